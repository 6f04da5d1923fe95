"""deploy/: Compose, Kubernetes and SLURM files checked for what they run; the local scripts run.

The Docker, Kubernetes and SLURM files are read, not run (no engine, cluster or queue
here): every YAML file parses and names the image, commands, addresses and volumes
that fit together. The local scripts start a real scheduler and 2 worker processes on
127.0.0.1, drizzle demo exposures on them and stop them.
"""

import os
import pathlib
import posixpath
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

yaml = pytest.importorskip("yaml")

REPO = pathlib.Path(__file__).resolve().parents[2]  # tests/cli/test_deploy.py
DEPLOY = REPO / "deploy"
DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "kubernetes"
LOCAL = DEPLOY / "local"
SLURM = DEPLOY / "slurm"
PREPARE_IN_IMAGE = "/opt/tiledrizzle/deploy/prepare.py"


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def shell_words(command):
    """The words of a container command: a list, or `sh -c SCRIPT` split like sh would."""
    if isinstance(command, str):
        command = shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return shlex.split(" ".join(command[2:]))
    return list(command)


def commands_in(words):
    """Split shell words on && into simple commands."""
    out, cur = [], []
    for w in words:
        if w == "&&":
            out.append(cur)
            cur = []
        else:
            cur.append(w)
    out.append(cur)
    return out


def option(cmd, name):
    assert name in cmd, f"{name} missing from {cmd}"
    return cmd[cmd.index(name) + 1]


def find_command(commands, *head):
    found = [c for c in commands if c[: len(head)] == list(head)]
    assert len(found) == 1, f"expected one {' '.join(head)!r} command in {commands}"
    return found[0]


# -- Docker -------------------------------------------------------------------------------


def dockerfile_instructions():
    """(INSTRUCTION, argument) pairs of deploy/docker/Dockerfile, continuation lines joined."""
    text = (DOCKER / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ins, _, arg = line.partition(" ")
            out.append((ins.upper(), arg.strip()))
    return out


def pip_installs(shell_text):
    """The argument lists of every `pip install` in a shell command line."""
    lex = shlex.shlex(shell_text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    found, cmd = [], []
    for tok in [*lex, ";"]:
        if tok in ("&&", "||", ";", "|", "&"):
            if "pip" in cmd and cmd[cmd.index("pip") + 1 : cmd.index("pip") + 2] == ["install"]:
                found.append(cmd[cmd.index("pip") + 2 :])
            cmd = []
        else:
            cmd.append(tok)
    return found


def readme_demo_command():
    text = (REPO / "README.md").read_text()
    m = re.search(r"```bash\n(.*?)```", text, re.S)
    assert m, "README.md has no ```bash block"
    return m.group(1).strip()


def test_dockerfile_installs_tiledrizzle_as_the_readme_does():
    readme = readme_demo_command()
    readme_installs = pip_installs(readme)
    assert readme_installs, f"no pip install in README's first command: {readme}"
    runs = [arg for ins, arg in dockerfile_instructions() if ins == "RUN"]
    docker_installs = [args for run in runs for args in pip_installs(run)]
    # The project is installed by exactly the README's command (same targets, same options);
    # the only other install is the dashboard's optional packages.
    project = [a for a in docker_installs if "." in a or any(x.startswith(".") for x in a)]
    assert project == readme_installs
    others = [a for a in docker_installs if a not in project]
    assert all(a == ["$DASHBOARD_PACKAGES"] for a in others), others
    # ...in a virtual environment, as README makes one.
    assert "python3 -m venv" in readme
    assert any(run.startswith("python3 -m venv ") for run in runs)


def test_docker_image_holds_the_repository_files_the_deployments_use():
    ins = dockerfile_instructions()
    assert ins[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim", ins[0][1])
    workdir, copied = "/", {}
    for name, arg in ins:
        if name == "WORKDIR":
            workdir = posixpath.join(workdir, arg)
        elif name == "COPY":
            *sources, dest = arg.split()
            for src in sources:
                assert (REPO / src).exists(), f"COPY of a missing path {src}"
                target = posixpath.join(workdir, dest)
                if dest.endswith("/") or len(sources) > 1 or dest in (".", "./"):
                    target = posixpath.join(target, posixpath.basename(src))
                copied[src] = posixpath.normpath(target)
    for needed in ("pyproject.toml", "README.md", "tiledrizzle", "deploy/prepare.py"):
        assert needed in copied, f"the image does not copy {needed}"
    # The jobs call the helper at the path the image puts it.
    assert copied["deploy/prepare.py"] == PREPARE_IN_IMAGE
    # The Dockerfile-specific ignore file lets through everything that is copied.
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert "**" in ignore
    for src in copied:
        assert f"!{src}" in ignore or f"!{src}/" in ignore, f"{src} is excluded from the context"


def compose_expand(word, environment):
    """A word of a service's shell command as the container's shell sees it (defaults used)."""
    word = word.replace("$$", "$")  # Compose's escape of a literal $
    for name, value in environment.items():
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)  # Compose's ${VAR:-default}
        word = word.replace(f"${name}", value)
    assert "$" not in word, word
    return word


@pytest.fixture(scope="module")
def compose():
    (doc,) = load_all(DOCKER / "compose.yaml")
    return doc


def test_compose_services_share_the_image_built_from_the_dockerfile(compose):
    services = compose["services"]
    assert set(services) == {"scheduler", "worker", "mosaic"}
    images = {s["image"] for s in services.values()}
    assert len(images) == 1
    for name, s in services.items():
        build = s["build"]
        context = (DOCKER / build["context"]).resolve()
        assert context == REPO, name
        assert (context / build["dockerfile"]).resolve() == DOCKER / "Dockerfile", name


def test_compose_commands_make_one_cluster_and_a_job_against_it(compose):
    s = compose["services"]
    sched = shell_words(s["scheduler"]["command"])
    assert sched[:2] == ["dask", "scheduler"]
    port = option(sched, "--port")
    assert port == "8786" and option(sched, "--dashboard-address").endswith(":8787")
    assert {"8786:8786", "8787:8787"} <= set(s["scheduler"]["ports"])
    address = f"tcp://scheduler:{port}"
    assert shell_words(s["worker"]["command"])[:3] == ["dask", "worker", address]
    assert s["worker"]["depends_on"]["scheduler"]["condition"] == "service_healthy"
    assert s["worker"]["deploy"]["replicas"] >= 2

    job = s["mosaic"]
    assert job["restart"] == "no"
    cmds = commands_in(shell_words(job["command"]))
    mosaic = find_command(cmds, "tiledrizzle", "mosaic")
    assert option(mosaic, "--scheduler") == address
    prepare = find_command(cmds, "python", PREPARE_IN_IMAGE)
    assert option(prepare, "--scheduler") == address
    inputs_dir = option(prepare, "--demo-inputs")
    assert f"{inputs_dir}/*.fits" in mosaic


def test_compose_store_and_inputs_are_on_one_volume_mounted_alike(compose):
    mounts = set()
    for name, s in compose["services"].items():
        (vol,) = s["volumes"]
        source, target = vol.split(":")[:2]
        assert source in compose["volumes"], f"{name} mounts an undeclared volume {source}"
        mounts.add((source, target))
    assert len(mounts) == 1, f"services mount different volumes or paths: {mounts}"
    ((_, target),) = mounts
    job = compose["services"]["mosaic"]
    cmds = commands_in(shell_words(job["command"]))
    mosaic = find_command(cmds, "tiledrizzle", "mosaic")
    store = compose_expand(option(mosaic, "--out"), job["environment"])
    for path in [store, option(find_command(cmds, "python", PREPARE_IN_IMAGE), "--demo-inputs")]:
        assert path.startswith(target + "/"), f"{path} is not on the shared volume {target}"


# -- Kubernetes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s():
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for d in load_all(path):
            docs[(d["kind"], d["metadata"]["name"])] = (path.name, d)
    return docs


def of_kind(k8s, kind):
    return [d for (k, _), (_, d) in k8s.items() if k == kind]


def check_pod_volumes(pod_spec, claims):
    """Every volumeMount names a pod volume; every claim volume names a declared PVC."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    mounts = {}
    for c in pod_spec["containers"]:
        for m in c.get("volumeMounts", []):
            assert m["name"] in volumes, f"volumeMount {m['name']} has no volume"
            mounts[m["name"]] = m["mountPath"]
    for v in volumes.values():
        if "persistentVolumeClaim" in v:
            assert v["persistentVolumeClaim"]["claimName"] in claims
    return mounts


def check_dask_cluster_spec(spec, cluster_name, image, claims):
    (sched,) = spec["scheduler"]["spec"]["containers"]
    assert sched["image"] == image
    assert sched["args"][:2] == ["dask", "scheduler"]
    named_ports = {p["name"]: p["containerPort"] for p in sched["ports"]}
    assert named_ports == {"tcp-comm": 8786, "http-dashboard": 8787}
    service = spec["scheduler"]["service"]
    assert service["selector"] == {
        "dask.org/cluster-name": cluster_name,
        "dask.org/component": "scheduler",
    }
    for p in service["ports"]:
        assert p["targetPort"] in named_ports and p["port"] == named_ports[p["targetPort"]]
    worker_pod = spec["worker"]["spec"]
    (worker,) = worker_pod["containers"]
    assert worker["image"] == image
    # The operator sets DASK_SCHEDULER_ADDRESS and DASK_WORKER_NAME in worker containers.
    assert worker["args"][:3] == ["dask", "worker", "$(DASK_SCHEDULER_ADDRESS)"]
    assert option(worker["args"], "--name") == "$(DASK_WORKER_NAME)"
    assert spec["worker"]["replicas"] >= 1
    return check_pod_volumes(worker_pod, claims)


def check_mosaic_container(container, scheduler, data_mount):
    cmds = commands_in(shell_words(container["command"] + container["args"]))
    mosaic = find_command(cmds, "tiledrizzle", "mosaic")
    assert option(mosaic, "--scheduler") == scheduler
    assert "--resume" in mosaic  # a retried pod finishes the interrupted batch
    prepare = find_command(cmds, "python", PREPARE_IN_IMAGE)
    inputs = option(prepare, "--demo-inputs")
    assert f"{inputs}/*.fits" in mosaic
    for path in (option(mosaic, "--out"), inputs):
        assert path.startswith(data_mount + "/"), f"{path} is not on the shared volume"


def test_kubernetes_storage_is_a_shared_claim(k8s):
    (pvc,) = of_kind(k8s, "PersistentVolumeClaim")
    assert pvc["apiVersion"] == "v1"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_kubernetes_dask_cluster_and_its_job(k8s, compose):
    image = compose["services"]["scheduler"]["image"]
    claims = {d["metadata"]["name"] for d in of_kind(k8s, "PersistentVolumeClaim")}
    (cluster,) = of_kind(k8s, "DaskCluster")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    name = cluster["metadata"]["name"]
    mounts = check_dask_cluster_spec(cluster["spec"], name, image, claims)

    (job,) = of_kind(k8s, "Job")
    assert job["apiVersion"] == "batch/v1"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert container["image"] == image
    job_mounts = check_pod_volumes(pod, claims)
    assert job_mounts == mounts, "the job and the workers mount the data differently"
    # The operator's scheduler Service is named <cluster>-scheduler.
    check_mosaic_container(container, f"tcp://{name}-scheduler:8786", mounts["data"])


def test_kubernetes_daskjob_runs_the_mosaic_on_its_own_cluster(k8s, compose):
    image = compose["services"]["scheduler"]["image"]
    claims = {d["metadata"]["name"] for d in of_kind(k8s, "PersistentVolumeClaim")}
    (dj,) = of_kind(k8s, "DaskJob")
    assert dj["apiVersion"] == "kubernetes.dask.org/v1"
    # The operator names the job's cluster after the job.
    mounts = check_dask_cluster_spec(dj["spec"]["cluster"]["spec"], dj["metadata"]["name"],
                                     image, claims)  # fmt: skip
    pod = dj["spec"]["job"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == image
    assert check_pod_volumes(pod, claims) == mounts
    check_mosaic_container(container, "$DASK_SCHEDULER_ADDRESS", mounts["data"])


def test_kustomization_lists_existing_manifests(k8s):
    (kz,) = load_all(K8S / "kustomization.yaml")
    files = {f for f, _ in k8s.values()}
    for res in kz["resources"]:
        assert res in files, f"kustomization names {res}, which is not a manifest here"
    kinds = {k for (k, _), (f, _) in k8s.items() if f in kz["resources"]}
    assert {"PersistentVolumeClaim", "DaskCluster", "Job"} <= kinds


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_manifests_offline():
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout) if d)
    assert kinds == ["DaskCluster", "Job", "PersistentVolumeClaim"]


# -- scripts ------------------------------------------------------------------------------


SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh")) + sorted(DEPLOY.rglob("*.sbatch"))


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_shell_scripts_parse(script):
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(script, os.X_OK), f"{script} is not executable"


def test_sbatch_wrapper_runs_the_slurm_driver():
    text = (SLURM / "mosaic.sbatch").read_text()
    directives = re.findall(r"^#SBATCH (\S+)", text, re.M)
    assert any(d.startswith("--time=") for d in directives)
    (line,) = [ln for ln in text.splitlines() if "mosaic_slurm.py" in ln and ln.startswith("exec")]
    assert shlex.split(line)[1:3] == ["python", "deploy/slurm/mosaic_slurm.py"]
    assert line.rstrip().endswith('"$@"')


PY_SCRIPTS = [DEPLOY / "prepare.py", SLURM / "mosaic_slurm.py"]


@pytest.mark.parametrize("script", PY_SCRIPTS, ids=lambda p: p.name)
def test_python_scripts_compile_and_answer_help(script, tmp_path):
    import py_compile

    py_compile.compile(str(script), cfile=str(tmp_path / "x.pyc"), doraise=True)
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_slurm_script_takes_the_job_options():
    out = subprocess.run([sys.executable, str(SLURM / "mosaic_slurm.py"), "--help"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    for opt in ("--jobs", "--cores", "--memory", "--walltime", "--queue", "--account", "--out"):
        assert opt in out.stdout


def _has_jobqueue():
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_jobqueue(), reason="dask-jobqueue is not installed (optional)")
def test_slurm_job_script_carries_the_options():
    out = subprocess.run(
        [sys.executable, str(SLURM / "mosaic_slurm.py"), "--print-job-script", "--cores", "4",
         "--memory", "8GB", "--walltime", "00:30:00", "--queue", "debug", "--account", "proj",
         "--job-extra=--constraint=cpu", "--prologue", "module load python",
         "--dashboard-address", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    script = out.stdout
    for line in (
        "#SBATCH -p debug",
        "#SBATCH -A proj",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH -t 00:30:00",
        "#SBATCH --constraint=cpu",
        "module load python",
    ):
        assert line in script, line
    assert f"{sys.executable} -m distributed.cli.dask_worker tcp://" in script


@pytest.mark.skipif(_has_jobqueue(), reason="dask-jobqueue is installed")
def test_slurm_script_without_jobqueue_says_what_to_install():
    out = subprocess.run([sys.executable, str(SLURM / "mosaic_slurm.py"), "--print-job-script"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0
    assert "pip install dask-jobqueue" in out.stderr
    assert "Traceback" not in out.stderr


def test_prepare_makes_demo_inputs_only_where_there_are_none(tmp_path):
    script = str(DEPLOY / "prepare.py")
    inputs = tmp_path / "inputs"
    out = subprocess.run([sys.executable, script, "--demo-inputs", str(inputs), "--exposures", "1"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "made 1 input files" in out.stdout
    (made,) = inputs.glob("*.fits")
    before = made.stat().st_mtime_ns
    out = subprocess.run([sys.executable, script, "--demo-inputs", str(inputs), "--exposures", "3"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "found 1 input files" in out.stdout
    assert [p.name for p in inputs.glob("*.fits")] == [made.name]
    assert made.stat().st_mtime_ns == before


def test_prepare_fails_when_no_scheduler_answers():
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "prepare.py"), "--scheduler", "tcp://127.0.0.1:1",
         "--timeout", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "prepare: error: no 1 workers at tcp://127.0.0.1:1" in out.stderr


def test_cluster_script_without_a_command_prints_usage():
    out = subprocess.run(["bash", str(LOCAL / "cluster.sh")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "start" in out.stderr and "stop" in out.stderr


# -- the local cluster, for real ---------------------------------------------------------


def local_env(run_dir, **extra):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(TILEDRIZZLE_RUN_DIR=str(run_dir), PORT="0", DASHBOARD="0", PYTHON=sys.executable,
               START_TIMEOUT="120")  # fmt: skip
    env.update(extra)
    return env


def read_pids(run_dir):
    pids = [int(p) for p in (run_dir / "pids").read_text().split()]
    assert pids, "the cluster recorded no processes"
    return pids


def assert_all_gone(pids):
    psutil = pytest.importorskip("psutil")
    left = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE and "dask" in " ".join(p.cmdline()):
                left.append((pid, p.cmdline()))
        except psutil.NoSuchProcess:
            pass
    assert not left, f"dask processes left running: {left}"


def test_local_scripts_run_a_mosaic_on_a_real_cluster_and_stop_it(tmp_path):
    from tiledrizzle.store.zarr_store import MosaicStore

    run_dir = tmp_path / "run"
    out = subprocess.run(
        ["bash", str(LOCAL / "run-mosaic.sh")],
        env=local_env(run_dir, WORKERS="2", EXPOSURES="2"),
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"scheduler (tcp://127\.0\.0\.1:\d+), 2 workers", out.stdout)
    assert m, out.stdout
    # The mosaic ran on that scheduler, and its workers were both there.
    assert f"on distributed {m.group(1)}" in out.stdout
    pids = read_pids(run_dir)
    assert len(pids) >= 5  # scheduler, 2 nannies, 2 worker processes
    assert "cluster.sh: stopped" in out.stdout
    assert_all_gone(pids)

    store = run_dir / "mosaic.zarr"
    st = MosaicStore.open(store)
    assert len(st.attrs["inputs"]) == 2
    assert st.attrs["batches"][-1]["status"] == "complete"
    assert "tiles written" in out.stdout and f"store {store}" in out.stdout
    # The same files drizzled by the threaded scheduler give the same bytes.
    inputs = sorted(str(p) for p in (run_dir / "inputs").glob("*.fits"))
    assert len(inputs) == 2
    from tiledrizzle.cli.commands import main

    here = tmp_path / "threads.zarr"
    assert main(["mosaic", *inputs, "--out", str(here), "--tile", "256",
                 "--scheduler", "threads", "--no-progress"]) == 0  # fmt: skip
    ref = MosaicStore.open(here)
    for name in ("img", "wht", "ctx"):
        a, b = st.group[name][...], ref.group[name][...]
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert np.isfinite(st.group["img"][...]).any()


def test_local_cluster_is_stopped_when_the_mosaic_fails(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_text("not a FITS file")
    run_dir = tmp_path / "run"
    out = subprocess.run(
        ["bash", str(LOCAL / "run-mosaic.sh"), str(bad)],
        env=local_env(run_dir, WORKERS="1"),
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode != 0
    assert "tiledrizzle: error:" in out.stderr and "bad.fits" in out.stderr
    assert "cluster.sh: stopped" in out.stdout
    assert_all_gone(read_pids(run_dir))
    status = subprocess.run(["bash", str(LOCAL / "cluster.sh"), "status"],
                            env=local_env(run_dir), capture_output=True, text=True)  # fmt: skip
    assert status.returncode != 0 and "running" not in status.stdout.replace("not running", "")
