"""Runs Flink SQL scripts written by `rowtime translate --to flink`, many in one JVM.

    python flink_driver.py JOBS.json

JOBS.json is a list of {"name": …, "script": PATH, "sinks": [{"dir": PATH, "merged": PATH}],
"ddl_only": false}; with "ddl_only" only the CREATE TABLE statements run (Flink parses them and
registers the tables; a view or a job would need the connector's jar, which is not here).
Each script runs in a fresh TableEnvironment (streaming mode, local mini-cluster, parallelism
1): SET statements go into its configuration, the other statements run in order, and the
STATEMENT SET is waited for. The part files each filesystem sink wrote into "dir" are then
concatenated into "merged". One JSON line per job on stdout: {"name", "ok", "error"}.
Part of rowtime (src/translate/); it is the only Python the translation check needs.
"""
import json
import os
import shutil
import signal
import sys
import time
import traceback


def statements(script):
    """Splits a script into statements: `;` at a line's end ends one, except inside
    EXECUTE STATEMENT SET … END;, which is one statement."""
    out, current, in_set = [], [], False
    for line in script.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if stripped.upper().startswith("EXECUTE STATEMENT SET"):
            in_set = True
        if stripped.endswith(";") and (not in_set or stripped.upper() == "END;"):
            text = "\n".join(current).strip()
            out.append(text[:-1] if not in_set else text[:-1])
            current, in_set = [], False
    if "".join(current).strip():
        out.append("\n".join(current).strip())
    return out


def run_job(job):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    with open(job["script"]) as f:
        stmts = statements(f.read())
    conf = Configuration()
    conf.set_string("execution.runtime-mode", "STREAMING")
    conf.set_string("parallelism.default", "1")
    # A failing job fails at once (checkpointing would otherwise restart it for ever).
    conf.set_string("restart-strategy.type", "none")
    rest = []
    for s in stmts:
        body = "\n".join(l for l in s.splitlines() if not l.strip().startswith("--")).strip()
        if body.upper().startswith("SET "):
            key, _, value = body[4:].partition("=")
            key = key.strip().strip("'")
            if key != "restart-strategy.type":
                conf.set_string(key, value.strip().strip("'"))
        else:
            rest.append(s)
    for sink in job.get("sinks", []):
        shutil.rmtree(sink["dir"], ignore_errors=True)
    settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    t_env = TableEnvironment.create(settings)
    for s in rest:
        code = "\n".join(l for l in s.splitlines() if not l.strip().startswith("--")).strip()
        if job.get("ddl_only") and not code.upper().startswith("CREATE TABLE"):
            continue
        result = t_env.execute_sql(s)
        if "STATEMENT SET" in s.upper() or s.lstrip().upper().startswith("INSERT"):
            result.wait()
    for sink in job.get("sinks", []):
        merge(sink["dir"], sink["merged"])


def merge(sink_dir, merged):
    names = sorted(os.listdir(sink_dir)) if os.path.isdir(sink_dir) else []
    pending = [n for n in names if "inprogress" in n]
    if pending:
        raise RuntimeError(f"Flink left uncommitted part files in {sink_dir}: {pending}")
    with open(merged, "wb") as out:
        for n in names:
            p = os.path.join(sink_dir, n)
            if not n.startswith(".") and os.path.isfile(p):
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out)


def stop_jvm():
    """Stops PyFlink's gateway JVM (a child of this process) and waits for it."""
    me = str(os.getpid())
    children = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                children.append(int(pid))
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    for pid in children:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                break
            time.sleep(0.05)


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            run_job(job)
            print(json.dumps({"name": job["name"], "ok": True, "error": None}), flush=True)
        except Exception as e:  # noqa: BLE001  (reported per job)
            text = str(e)
            # py4j wraps Flink's exception: keep its first cause lines, not the Java stack.
            lines = [l for l in text.splitlines() if l.strip() and not l.strip().startswith("at ")]
            print(json.dumps({"name": job["name"], "ok": False,
                              "error": "\n".join(lines[:12]) or traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    code = 0
    try:
        main()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = 1
    stop_jvm()
    sys.stdout.flush()
    os._exit(code)
