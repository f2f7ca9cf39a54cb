{#-
  slurm.node: make this minion a Slurm compute node (or, with slurm:node:present false, stop it).

  Everything comes from pillar (the portal writes it per minion, see apps/clusters/scaling_pillar.py):
    slurm:node:name         the Slurm node name
    slurm:node:present      true: install/configure/run slurmd; false: stop slurmd
    slurm:install_packages  true: pkg.installed slurm:packages (a no-op where they are installed)
    slurm:munge:manage      true: write the munge key from slurm:munge:key_b64 (base64) to
                            slurm:munge:key_path, mode 0400, owner slurm:munge:user if that user
                            exists (else root). The key is read with contents_pillar: it never
                            appears in the rendered state, a command line or the state's return
                            (file.decode reports hashes only).
    slurm:munge:service     the munge service to keep running ('' : not managed here)
    slurm:conf_path / slurm:slurm_conf, slurm:gres_path / slurm:gres_conf   the files (show_changes off)
    slurm:slurmd:service    the slurmd service (real hosts: service.running)
    slurm:slurmd:start_cmd / stop_cmd / status_cmd   instead of the service (the lab's lab-slurmctl)
  Idempotent: a second run with the same pillar changes nothing.
-#}
{%- set s = salt['pillar.get']('slurm', {}) %}
{%- set node = s.get('node', {}) %}
{%- set munge = s.get('munge', {}) %}
{%- set slurmd = s.get('slurmd', {}) %}
{%- if node.get('present', True) %}

{%- if s.get('install_packages', False) %}
slurm-packages:
  pkg.installed:
    - pkgs: {{ s.get('packages', ['slurmd', 'munge']) | json }}
{%- endif %}

{%- if munge.get('manage', False) %}
{%- set muser = munge.get('user', 'munge') %}
{%- if not salt['user.info'](muser) %}{% set muser = 'root' %}{% endif %}
munge-key-file:
  file.managed:
    - name: {{ munge.get('key_path', '/etc/munge/munge.key') | json }}
    - replace: False
    - contents: ''
    - user: {{ muser | json }}
    - mode: '0400'
    - makedirs: True
    - show_changes: False

munge-key:
  file.decode:
    - name: {{ munge.get('key_path', '/etc/munge/munge.key') | json }}
    - encoding_type: base64
    - contents_pillar: slurm:munge:key_b64
    - require:
      - file: munge-key-file

{%- if munge.get('service') %}
munge-running:
  service.running:
    - name: {{ munge.service | json }}
    - enable: True
    - watch:
      - file: munge-key
{%- endif %}
{%- endif %}

{%- if s.get('slurm_conf') %}
slurm-conf:
  file.managed:
    - name: {{ s.get('conf_path', '/etc/slurm/slurm.conf') | json }}
    - contents_pillar: slurm:slurm_conf
    - mode: '0644'
    - makedirs: True
    - show_changes: False
{%- endif %}

{%- if s.get('gres_conf') is not none and s.get('gres_path') %}
gres-conf:
  file.managed:
    - name: {{ s.gres_path | json }}
    - contents_pillar: slurm:gres_conf
    - mode: '0644'
    - makedirs: True
    - show_changes: False
{%- endif %}

{%- if slurmd.get('start_cmd') %}
slurmd-running:
  cmd.run:
    - name: {{ slurmd.start_cmd | json }}
    - unless: {{ slurmd.get('status_cmd', 'false') | json }}
{%- else %}
slurmd-running:
  service.running:
    - name: {{ slurmd.get('service', 'slurmd') | json }}
    - enable: True
{%- if s.get('slurm_conf') or munge.get('manage', False) %}
    - watch:
{%- if s.get('slurm_conf') %}
      - file: slurm-conf
{%- endif %}
{%- if munge.get('manage', False) %}
      - file: munge-key
{%- endif %}
{%- endif %}
{%- endif %}

{%- else %}

{%- if slurmd.get('stop_cmd') %}
slurmd-stopped:
  cmd.run:
    - name: {{ slurmd.stop_cmd | json }}
    - onlyif: {{ slurmd.get('status_cmd', 'true') | json }}
{%- else %}
slurmd-stopped:
  service.dead:
    - name: {{ slurmd.get('service', 'slurmd') | json }}
    - enable: False
{%- endif %}

{%- endif %}
