"""salt-api (rest_cherrypy) client: minion keys, execution, jobs, grains. No Django.

`SaltApi(url, username, password, eauth, ca_file=...)` talks HTTPS to salt-api with `requests`
(plain http only to a loopback address). Every call has ONE wall-clock deadline (`timeout`, plus
the Salt wait for calls that wait on minions, shortened by any deadline already running, e.g.
the job's): the session runs under apps/core/deadline_http, which cuts the connection when it
passes. The login token is cached and renewed once on a 401. Every lowstate chunk passes the
function policy (apps.nodes.salt.policy) BEFORE it is sent: a refused call raises
SaltFunctionRefused and nothing reaches the master. `as_role(role)` gives a view of the same
client (session and token shared) that calls as another portal role.

Keys are matched by exact id (the `*_dict` wheel functions; ids with glob characters are
refused), and a pending key is accepted only when the fingerprint given (what the minion
reported at enrollment, in `salt-key -f` form) matches the master's copy; the fingerprint is
checked again after the accept and the key deleted if it changed in between.

One client per salt-api and per thread (it keeps one HTTP session); `as_role` views share it.
"""
from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import requests

from apps.core import deadline as deadlines
from apps.core import deadline_http

from .errors import (SaltApiError, SaltAuthFailed, SaltError, SaltKeyRefused, SaltMinionNoAnswer, SaltTimeout,
                     SaltUnreachable)
from .policy import SaltClientKind, SaltPolicy, SaltRole
from .results import (KEY_SECTIONS, MINION_ID, HardwareSummary, Job, JobSummary, KeyState, MinionKey, MinionReturn,
                      RunResult, fingerprints_match)

_JID = re.compile(r"^[0-9]{20}$")
_NO_RETURN = "Minion did not return"
TOKEN_MARGIN_S = 60  # renew a token this long before salt-api says it expires


@dataclass(frozen=True)
class Submitted:
    jid: str
    minions: tuple[str, ...]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_minion_id(minion_id: str) -> str:
    if not isinstance(minion_id, str) or not MINION_ID.fullmatch(minion_id):
        raise ValueError(f"not a valid minion id: {minion_id!r} (letters, digits, '.', '_', '-')")
    return minion_id


class _Auth:
    """Token state shared by a client and its `as_role` views."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token: str | None = None
        self.expire = 0.0


class SaltApi:
    def __init__(self, url: str, username: str, password: str, eauth: str, ca_file: str | None = None, *,
                 timeout: float = 15.0, policy: SaltPolicy | None = None, role: str = SaltRole.ADMIN,
                 session: requests.Session | None = None, _auth: _Auth | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError("salt-api address must be https://host[:port] without credentials")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("salt-api over plain http is refused except on a loopback address: use https")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("salt-api address must not have a path or query")
        if not eauth:
            raise ValueError("an eauth backend is required (e.g. 'file', 'pam', 'ldap')")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.username, self._password, self.eauth = username, password, eauth
        self.verify: bool | str = ca_file or True
        self.timeout = float(timeout)
        self.policy = policy or SaltPolicy()
        self.role = str(role)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=; no proxies, no .netrc
            deadline_http.mount(session)
        self._session = session
        self._auth = _auth or _Auth()

    def __repr__(self) -> str:
        return f"<SaltApi {self.url} user={self.username} role={self.role}>"

    def as_role(self, role: str) -> "SaltApi":
        return SaltApi(self.url, self.username, self._password, self.eauth,
                       self.verify if isinstance(self.verify, str) else None, timeout=self.timeout,
                       policy=self.policy, role=role, session=self._session, _auth=self._auth)

    # --- transport -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, what: str, seconds: float):
        with deadlines.within(seconds, f"salt-api {self.url}: {what}") as own:
            try:
                yield
            except SaltError:
                raise
            except Exception as exc:
                passed = deadlines.expired()
                if passed is not None:  # the cut connection is the symptom; the deadline is the reason
                    raise SaltTimeout(f"salt-api {self.url}: {what}: {deadlines.reason(passed, own)}") from None
                raise self._translate(exc, what) from None

    def _translate(self, exc: Exception, what: str) -> Exception:
        if isinstance(exc, requests.exceptions.SSLError):
            return SaltUnreachable(f"salt-api {self.url} unreachable ({what}): TLS failed "
                                   "(certificate not trusted by the configured CA, or not TLS)")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return SaltUnreachable(f"salt-api {self.url} unreachable ({what}): connection failed")
        if isinstance(exc, requests.exceptions.Timeout):
            return SaltTimeout(f"salt-api {self.url}: {what}: no answer in time")
        if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError)):
            return SaltApiError(f"salt-api {self.url}: {what}: invalid response ({type(exc).__name__})")
        return exc

    def _post(self, path: str, body: Any, token: str | None = None) -> requests.Response:
        headers = {"Accept": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        return self._session.post(self.url + path, json=body, headers=headers, verify=self.verify,
                                  timeout=self.timeout, allow_redirects=False)

    def _login(self) -> str:
        r = self._post("/login", {"username": self.username, "password": self._password, "eauth": self.eauth})
        if r.status_code in (401, 403):
            raise SaltAuthFailed(f"salt-api {self.url}: login as {self.username} ({self.eauth}) refused "
                                 f"(HTTP {r.status_code})")
        if r.status_code != 200:
            raise SaltApiError(f"salt-api {self.url}: login failed (HTTP {r.status_code})")
        data = r.json()["return"][0]
        self._auth.token = str(data["token"])
        self._auth.expire = float(data.get("expire") or time.time() + 3600)
        return self._auth.token

    def _token(self, renew: bool = False) -> str:
        with self._auth.lock:
            if renew or not self._auth.token or time.time() > self._auth.expire - TOKEN_MARGIN_S:
                return self._login()
            return self._auth.token

    def call(self, chunk: Mapping, what: str | None = None, *, wait: float = 0.0) -> Any:
        """Send one lowstate chunk (after the policy allows it); returns its entry of `return`."""
        self.policy.check(self.role, chunk)  # before anything leaves this process
        what = what or f"{chunk.get('client')} {chunk.get('fun')}"
        with self._errors(what, self.timeout + wait):
            r = self._post("/", [dict(chunk)], self._token())
            if r.status_code == 401:  # token expired or revoked (master restarted): log in again, once
                r = self._post("/", [dict(chunk)], self._token(renew=True))
                if r.status_code == 401:
                    raise SaltAuthFailed(f"salt-api {self.url}: {what}: token refused (HTTP 401)")
            if r.status_code == 403:
                raise SaltAuthFailed(f"salt-api {self.url}: {what}: not permitted for {self.username} (HTTP 403)")
            if r.status_code != 200:
                raise SaltApiError(f"salt-api {self.url}: {what} failed (HTTP {r.status_code})")
            return r.json()["return"][0]

    def _wheel(self, fun: str, **kwargs) -> Any:
        data = self.call({"client": SaltClientKind.WHEEL.value, "fun": fun, **kwargs}, f"wheel {fun}")["data"]
        if not data.get("success", True):
            detail = data.get("return")
            detail = detail.splitlines()[0][:200] if isinstance(detail, str) and detail else "no detail"
            raise SaltApiError(f"salt-api {self.url}: wheel {fun} failed: {detail}")
        return data.get("return")

    def _runner(self, fun: str, **kwargs) -> Any:
        return self.call({"client": SaltClientKind.RUNNER.value, "fun": fun, **kwargs}, f"runner {fun}")

    # --- keys --------------------------------------------------------------------------------

    def keys(self, match: str = "*") -> list[MinionKey]:
        """Every minion key (or those matching a glob) with its state and fingerprint."""
        if not isinstance(match, str) or not match or any(c.isspace() for c in match):
            raise ValueError(f"not a key match: {match!r}")
        found = self._wheel("key.finger", match=match) or {}
        out = []
        for section, state in KEY_SECTIONS.items():
            for minion, finger in (found.get(section) or {}).items():
                if isinstance(finger, list):  # several denied keys under one id
                    finger = finger[0] if finger else None
                out.append(MinionKey(minion, state, finger))
        return sorted(out, key=lambda k: (k.id, k.state))

    def key(self, minion_id: str) -> MinionKey | None:
        check_minion_id(minion_id)
        keys = [k for k in self.keys(minion_id) if k.id == minion_id]
        if not keys:
            return None
        # the same id can be accepted and denied at once (a second key was refused): report the accepted one
        order = (KeyState.ACCEPTED, KeyState.PENDING, KeyState.REJECTED, KeyState.DENIED)
        return sorted(keys, key=lambda k: order.index(k.state))[0]

    def accept(self, minion_id: str, fingerprint: str) -> MinionKey:
        """Accept a PENDING key only if its fingerprint is `fingerprint`; otherwise nothing changes."""
        check_minion_id(minion_id)
        accept_chunk = {"client": SaltClientKind.WHEEL.value, "fun": "key.accept_dict",
                        "match": {"minions_pre": [minion_id]}}
        self.policy.check(self.role, accept_chunk)  # a refused role learns nothing about the key
        key = self.key(minion_id)
        if key is None:
            raise SaltKeyRefused(f"no key for minion {minion_id} on the master")
        if key.state != KeyState.PENDING:
            raise SaltKeyRefused(f"key of {minion_id} is {key.state}, not pending: nothing accepted")
        if not key.fingerprint or not fingerprints_match(fingerprint, key.fingerprint):
            raise SaltKeyRefused(f"fingerprint mismatch for {minion_id}: the pending key is not the one the "
                                 f"minion reported; it stays pending")
        done = self._wheel("key.accept_dict", match=accept_chunk["match"])
        if minion_id not in ((done or {}).get("minions") or []):
            raise SaltApiError(f"salt-api {self.url}: accepting {minion_id} had no effect")
        after = self.key(minion_id)
        if after is None or after.state != KeyState.ACCEPTED or not fingerprints_match(fingerprint, after.fingerprint or ""):
            # the pending key was swapped between our check and the accept: undo
            self._wheel("key.delete_dict", match={"minions": [minion_id]})
            raise SaltKeyRefused(f"key of {minion_id} changed while it was accepted; it was deleted")
        return after

    def reject(self, minion_id: str, *, include_accepted: bool = False) -> MinionKey:
        check_minion_id(minion_id)
        match = {"minions_pre": [minion_id]}
        if include_accepted:
            match["minions"] = [minion_id]
        done = self._wheel("key.reject_dict", match=match, include_accepted=include_accepted)
        if minion_id not in ((done or {}).get("minions_rejected") or []):
            key = self.key(minion_id)
            raise SaltKeyRefused(f"key of {minion_id} not rejected (it is {key.state if key else 'absent'})")
        return self.key(minion_id)

    def delete(self, minion_id: str) -> None:
        check_minion_id(minion_id)
        done = self._wheel("key.delete_dict", match={s: [minion_id] for s in KEY_SECTIONS})
        # The master names what it deleted. A running minion offers its key again within seconds,
        # so "present afterwards" alone does not mean the delete failed.
        deleted = any(minion_id in ids for ids in (done or {}).values() if isinstance(ids, list))
        if not deleted and self.key(minion_id) is not None:
            raise SaltApiError(f"salt-api {self.url}: key of {minion_id} still present after delete")

    # --- execution ---------------------------------------------------------------------------

    def run(self, target: str | Iterable[str], fun: str, arg: Iterable = (), kwarg: Mapping | None = None, *,
            tgt_type: str = "glob", wait: float = 10.0) -> RunResult:
        """Run `fun` on the target and wait up to `wait` s for the minions; per-minion returns and
        retcodes, and the targeted minions that did not answer."""
        tgt, tgt_type, expected = _target(target, tgt_type)
        # After `wait` Salt asks the silent minions whether they still run the job and waits
        # gather_job_timeout for that answer (default 10 s: a ping to a minion that missed the
        # publish took 13 s); a minion still running the job extends the wait, so long jobs
        # belong in submit() + wait_job(), and this call ends at its deadline regardless.
        wait_s, gather_s = max(1, int(wait)), max(1, min(int(wait), 5))
        chunk = {"client": SaltClientKind.LOCAL.value, "tgt": tgt, "tgt_type": tgt_type, "fun": fun,
                 "arg": list(arg), "full_return": True, "timeout": wait_s, "gather_job_timeout": gather_s}
        if kwarg:
            chunk["kwarg"] = dict(kwarg)
        data = self.call(chunk, f"{fun} on {tgt}", wait=wait_s + gather_s) or {}
        if not isinstance(data, Mapping):
            raise SaltApiError(f"salt-api {self.url}: {fun}: unexpected result ({type(data).__name__})")
        returns, missing, jid = {}, set(), None
        for minion, value in data.items():
            if isinstance(value, Mapping):
                jid = jid or value.get("jid")
                if value.get("out") == "no_return" or (isinstance(value.get("ret"), str)
                                                        and value["ret"].startswith(_NO_RETURN)):
                    missing.add(minion)
                    continue
            returns[minion] = MinionReturn.from_full_return(minion, value)
        missing |= {m for m in expected if m not in returns}
        return RunResult(jid=jid, fun=fun, returns=returns, missing=tuple(sorted(missing)))

    def submit(self, target: str | Iterable[str], fun: str, arg: Iterable = (), kwarg: Mapping | None = None, *,
               tgt_type: str = "glob") -> Submitted:
        """Start a job without waiting (local_async): its jid and the minions it went to."""
        tgt, tgt_type, _ = _target(target, tgt_type)
        chunk = {"client": SaltClientKind.LOCAL_ASYNC.value, "tgt": tgt, "tgt_type": tgt_type, "fun": fun,
                 "arg": list(arg)}
        if kwarg:
            chunk["kwarg"] = dict(kwarg)
        data = self.call(chunk, f"{fun} on {tgt} (async)") or {}
        if not data.get("jid"):
            raise SaltMinionNoAnswer(f"{fun}: no minion matched {tgt}", ())
        return Submitted(str(data["jid"]), tuple(data.get("minions") or ()))

    def ping(self, target="*", *, tgt_type: str = "glob", wait: float = 5.0) -> RunResult:
        return self.run(target, "test.ping", tgt_type=tgt_type, wait=wait)

    def version(self, target="*", *, tgt_type: str = "glob", wait: float = 5.0) -> RunResult:
        return self.run(target, "test.version", tgt_type=tgt_type, wait=wait)

    def grains(self, target="*", *, tgt_type: str = "glob", wait: float = 10.0) -> RunResult:
        return self.run(target, "grains.items", tgt_type=tgt_type, wait=wait)

    def hardware(self, target="*", *, tgt_type: str = "glob", wait: float = 10.0) -> RunResult:
        """Per minion a HardwareSummary (CPU, memory, GPUs, InfiniBand) from its grains."""
        result = self.grains(target, tgt_type=tgt_type, wait=wait)
        returns = {m: MinionReturn(m, HardwareSummary.from_grains(m, r.ret) if isinstance(r.ret, Mapping) else None,
                                   r.retcode, r.success and isinstance(r.ret, Mapping))
                   for m, r in result.returns.items()}
        return RunResult(result.jid, "grains.items", returns, result.missing)

    def wait_for_ping(self, minion_id: str, timeout: float = 30.0, interval: float = 0.5) -> float:
        """Ping one minion until it answers (seconds it took) or raise SaltMinionNoAnswer."""
        check_minion_id(minion_id)
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise SaltMinionNoAnswer(f"minion {minion_id} did not answer a ping within {timeout:g} s",
                                         (minion_id,))
            # short rounds: the first publish after an accept can reach the minion before it subscribed
            result = self.run([minion_id], "test.ping", tgt_type="list", wait=min(2.0, max(1.0, left)))
            if minion_id in result.returns and result.returns[minion_id].ret is True:
                return time.monotonic() - start
            time.sleep(min(interval, max(0.0, timeout - (time.monotonic() - start))))

    # --- jobs --------------------------------------------------------------------------------

    def job(self, jid: str) -> Job:
        if not isinstance(jid, str) or not _JID.fullmatch(jid):
            raise ValueError(f"not a Salt job id: {jid!r}")
        data = self._runner("jobs.list_job", jid=jid) or {}
        if not isinstance(data, Mapping) or "Function" not in data:
            raise SaltApiError(f"salt-api {self.url}: job {jid} not found in the job cache")
        result = data.get("Result") or {}
        return Job(jid=jid, fun=str(data.get("Function")), arguments=tuple(data.get("Arguments") or ()),
                   target=data.get("Target"), target_type=str(data.get("Target-type", "")),
                   user=str(data.get("User", "")), start_time=str(data.get("StartTime", "")),
                   minions=tuple(data.get("Minions") or ()),
                   returns={m: MinionReturn.from_full_return(m, v) for m, v in result.items()})

    def wait_job(self, jid: str, timeout: float = 30.0, interval: float = 0.3) -> Job:
        """Poll the job cache until every targeted minion returned, or `timeout` s passed (the job
        as it stands then: `missing` names who did not answer)."""
        start = time.monotonic()
        while True:
            job = self.job(jid)
            if job.finished or time.monotonic() - start >= timeout:
                return job
            time.sleep(interval)

    def jobs(self, *, search_function: str | None = None, search_target: str | None = None,
             start_time: str | None = None, end_time: str | None = None) -> list[JobSummary]:
        """Jobs in the master's cache, newest first (wheel and runner calls included)."""
        kwargs = {k: v for k, v in (("search_function", search_function), ("search_target", search_target),
                                    ("start_time", start_time), ("end_time", end_time)) if v}
        data = self._runner("jobs.list_jobs", **kwargs) or {}
        out = [JobSummary(jid=jid, fun=str(j.get("Function")), arguments=tuple(j.get("Arguments") or ()),
                          target=j.get("Target"), target_type=str(j.get("Target-type", "")),
                          user=str(j.get("User", "")), start_time=str(j.get("StartTime", "")))
               for jid, j in data.items() if isinstance(j, Mapping)]
        return sorted(out, key=lambda j: j.jid, reverse=True)


def _target(target, tgt_type: str) -> tuple[str, str, tuple[str, ...]]:
    """(tgt, tgt_type, expected minions): a list of ids is sent as an exact `list` target."""
    if isinstance(target, (list, tuple, set, frozenset)):
        ids = tuple(check_minion_id(m) for m in target)
        if not ids:
            raise ValueError("no minion to target")
        return ",".join(ids), "list", ids
    if not isinstance(target, str) or not target.strip():
        raise ValueError("empty Salt target")
    if tgt_type == "list":
        ids = tuple(check_minion_id(m.strip()) for m in target.split(",") if m.strip())
        return ",".join(ids), "list", ids
    if tgt_type not in ("glob", "pcre", "grain", "grain_pcre", "pillar", "nodegroup", "compound", "ipcidr"):
        raise ValueError(f"unsupported Salt target type {tgt_type!r}")
    return target, tgt_type, ()
