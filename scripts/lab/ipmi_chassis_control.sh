#!/bin/sh
# chassis_control hook of the lab's ipmi_sim (see scripts/lab/ipmi.sh). ipmi_sim runs it as
#   ipmi_chassis_control.sh STATE_DIR get power [boot]
#   ipmi_chassis_control.sh STATE_DIR set power 0|1 | reset 1 | boot NAME | shutdown 1 | identify "I F"
# ("get" prints "parm:value" lines; "set" prints nothing on success, an error message and a
# non-zero status otherwise). The machine it "controls" is two files in STATE_DIR:
#   power  (0 or 1)   boot  (none|pxe|default|cdrom|bios)
# and every request is appended to STATE_DIR/actions.log, so tests can see what a BMC was told.
set -u
dir="${1:?state dir}"
op="${2:-}"
[ $# -ge 2 ] && shift 2

now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

write() {  # FILE VALUE: atomic, so a concurrent "get" never reads a half-written file
  printf '%s\n' "$2" >"$dir/.$1.$$" && mv -f "$dir/.$1.$$" "$dir/$1"
}

power() { v="$(cat "$dir/power" 2>/dev/null)"; [ "$v" = 1 ] && echo 1 || echo 0; }

case "$op" in
  get)
    for parm in "$@"; do
      case "$parm" in
        power) echo "power:$(power)" ;;
        boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)" ;;
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
    done
    ;;
  set)
    while [ $# -ge 2 ]; do
      parm="$1" val="$2"
      shift 2
      case "$parm" in
        power)
          case "$val" in 0|1) write power "$val" ;; *) echo "Invalid power value: $val"; exit 1 ;; esac ;;
        reset) ;;  # a pulse: the machine stays on (or off)
        shutdown) [ "$val" = 1 ] && write power 0 ;;
        boot)
          case "$val" in none|pxe|default|cdrom|bios) write boot "$val" ;; *) echo "Invalid boot value: $val"; exit 1 ;; esac ;;
        identify) ;;
        *) echo "Invalid parameter: $parm"; exit 1 ;;
      esac
      echo "$(now) set $parm $val" >>"$dir/actions.log"
    done
    ;;
  check) exit 1 ;;  # not supported for chassis control
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
