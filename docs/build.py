"""Build the docs site from the notebooks: `python docs/build.py` (or `bash scripts/build_docs.sh`) -> `_site/`.

1. Discover every notebook under `nbs/` (the same rule as `tests/test_notebooks.py`).
2. Execute each one in a fresh Jupyter kernel (cwd = its folder, `$DATACURATE_HOME` in a temp dir, `IN_TEST=1` so
   `nbdev_export()` writes nothing, cells tagged `#| slow`, `#| gpu` or `#| eval: false` not run), two at a time.
   An executed notebook is cached under `_proc/exec/` keyed by its cells, the code under `datacurate/`, `plugins/`
   and `examples/`, and the Python/torch versions: a rebuild with nothing changed reuses it.
3. Process the executed notebooks with nbdev's own processors (`#| hide` cells and `hide_line`s go, directives are
   stripped, housekeeping magics removed) plus a few of our own (`default_exp` cells go, `show_doc` inputs and
   `#| echo: false` inputs are hidden, skipped cells get a note), and insert a "run information" note: the hardware
   it ran on and how long it took. Outputs are scrubbed of the build machine's paths (temporary folders, the
   docs run's `$DATACURATE_HOME`, the checkout, the virtualenv, the home folder: `scrub_paths`).
4. Write API pages (MyST, Sphinx's Python domain) from the exported modules' docstrings and `docments` comments.
5. Run Sphinx (myst-nb, nothing executed again) with `-W --keep-going`, then check every internal link of `_site/`.

Any notebook that errors, any Sphinx warning and any broken internal link fails the build (exit 1).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import copy
import hashlib
import importlib
import inspect
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NBS = ROOT / "nbs"
PROC = ROOT / "_proc"
SRC = PROC / "site_src"  # Sphinx source tree, generated
EXEC_CACHE = PROC / "exec"
SITE = ROOT / "_site"
SKIP_FLAGS = ("slow", "gpu")
# library noise kept off the pages (the notebooks' own warnings still show): deprecations inside transformers/peft and
# torch.func's note that SDPA has no vmap batching rule on CPU
QUIET_WARNINGS = ("ignore::DeprecationWarning", "ignore::FutureWarning",
                  "ignore:There is a performance drop because we have not yet implemented the batching rule:UserWarning")
GUIDE_FIRST = ("getting_started", "concepts")  # guides shown before the method tutorials; the rest after them


# ---------------------------------------------------------------- discovery
def discover(nbs: Path = NBS) -> list[Path]:
    "Every notebook under `nbs/`, skipping checkpoints and `_`-prefixed folders/files (as the notebook tests do)."
    return sorted(p for p in nbs.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                  and not any(part.startswith("_") for part in p.relative_to(nbs).parts))


def docname(nb: Path) -> str:
    "Sphinx document name of a notebook: its path under `nbs/` without the suffix."
    return nb.relative_to(NBS).with_suffix("").as_posix()


# ---------------------------------------------------------------- hardware / run information
def hardware() -> dict:
    "The machine the notebooks run on, in words."
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
    except OSError: pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = None
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError): pass
    gpu = "no GPU"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip(): gpu = ", ".join(out.stdout.split("\n")).strip(", ")
    except (OSError, subprocess.SubprocessError): pass
    versions = {"python": platform.python_version()}
    for lib in ("torch", "transformers"):
        try:
            from importlib.metadata import version
            versions[lib] = version(lib)
        except Exception: pass
    return dict(cpu=cpu, cores=cores, memory=mem, gpu=gpu, os=f"{platform.system()} {platform.release()}",
                versions=versions)


def hardware_text(hw: dict) -> str:
    parts = [f"{hw['cpu']} ({hw['cores']} cores)", hw.get("memory"), hw.get("gpu")]
    return ", ".join(p for p in parts if p)


def versions_text(hw: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in hw["versions"].items())


# ---------------------------------------------------------------- execution
def _code_fingerprint() -> str:
    "Hash of the code the notebooks import: a change re-executes every notebook."
    h = hashlib.sha256()
    for base in ("datacurate", "plugins", "examples"):
        for p in sorted((ROOT / base).rglob("*")):
            rel = p.relative_to(ROOT).parts  # build outputs (pip's build/, dist/, egg-info, bytecode) are not code
            if p.is_file() and p.suffix in (".py", ".toml", ".json", ".jsonl", ".txt") and \
                    not any(part in ("build", "dist", "__pycache__") or part.endswith(".egg-info") for part in rel):
                h.update(str(p.relative_to(ROOT)).encode()); h.update(p.read_bytes())
    h.update(sys.version.encode())
    for lib in ("torch", "transformers", "datasets"):
        try:
            from importlib.metadata import version
            h.update(f"{lib}={version(lib)}".encode())
        except Exception: pass
    return h.hexdigest()


def _cells_fingerprint(nb) -> str:
    return hashlib.sha256(json.dumps([(c["cell_type"], c["source"]) for c in nb["cells"]]).encode()).hexdigest()


def directives(source: str) -> dict:
    "nbdev `#| key value` directives at the top of a cell (the same parsing nbdev uses)."
    from fastcore.nbio import NbCell
    return dict(NbCell(0, {"cell_type": "code", "source": source}).directives)


def _skip_reason(cell) -> str | None:
    if cell["cell_type"] != "code": return None
    d = directives(cell["source"])
    for flag in SKIP_FLAGS:
        if flag in d: return f"#| {flag}"
    if str(d.get("eval", [""])[0] if isinstance(d.get("eval"), list) else d.get("eval", "")).lower() == "false":
        return "#| eval: false"
    return None


def execute_notebook(nb_path: str, timeout: int = 1800, threads: int | None = None) -> dict:
    """Run one notebook in a fresh kernel; return the executed notebook (as JSON), its wall time and any error.
    `threads` caps the kernel's OpenMP/BLAS threads (kernels run side by side must not oversubscribe the cores)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    nb_path = Path(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if _skip_reason(cell):
            cell.metadata.setdefault("tags", [])
            if "skip-execution" not in cell.metadata.tags: cell.metadata.tags.append("skip-execution")
    home = tempfile.mkdtemp(prefix=DOCS_HOME_PREFIX)
    env = dict(os.environ, IN_TEST="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               DATACURATE_HOME=home, PYTHONWARNINGS=",".join(QUIET_WARNINGS))
    if threads and "OMP_NUM_THREADS" not in os.environ:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    env.pop("MPLBACKEND", None)  # the kernel's inline backend turns figures into PNG outputs
    # jupyter_client starts a `python` kernelspec with sys.executable: the kernel is this venv's interpreter
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False, record_timing=True,
                            skip_cells_with_tag="skip-execution", resources={"metadata": {"path": str(nb_path.parent)}},
                            )
    error, start = None, time.perf_counter()
    try:
        client.execute(env=env, cwd=str(nb_path.parent))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        error = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(e))  # no terminal colours in the report
    except Exception as e:  # kernel failed to start etc.
        error = f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(home, ignore_errors=True)
    secs = time.perf_counter() - start
    return dict(nb=nbformat.writes(nb), seconds=round(secs, 2), error=error)


def exec_key(nb: Path, code: str | None = None) -> str:
    "Cache key of a notebook's execution: its cells plus the fingerprint of the code it imports."
    code = code or _code_fingerprint()
    return hashlib.sha256((code + _cells_fingerprint(json.loads(nb.read_text()))).encode()).hexdigest()


def exec_entry(nb: Path) -> Path:
    "Where the executed notebook is cached."
    return EXEC_CACHE / (docname(nb).replace("/", "__") + ".json")


def cached_run(nb: Path, code: str | None = None) -> dict | None:
    "The cached, error-free execution of `nb` for the current cells and code, else None (used by the notebook tests)."
    entry = exec_entry(nb)
    if not entry.exists(): return None
    rec = json.loads(entry.read_text())
    return rec if rec.get("key") == exec_key(nb, code) and not rec.get("error") else None


def execute_all(notebooks: list[Path], jobs: int, force: bool) -> dict[Path, dict]:
    "Execute (or reuse from the cache) every notebook; returns path -> record with `nb`, `seconds`, `cached`, `error`."
    EXEC_CACHE.mkdir(parents=True, exist_ok=True)
    code = _code_fingerprint()
    results, todo = {}, []
    for nb in notebooks:
        key = exec_key(nb, code)
        entry = exec_entry(nb)
        if not force and entry.exists():
            rec = json.loads(entry.read_text())
            if rec.get("key") == key and not rec.get("error"):
                results[nb] = dict(rec, cached=True); continue
        todo.append((nb, key, entry))
    if todo:
        print(f"executing {len(todo)} notebook(s) with {jobs} worker(s); {len(results)} reused from the cache", flush=True)
    with cf.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // max(1, min(jobs, len(todo))))
        futures = {pool.submit(execute_notebook, str(nb), threads=threads): (nb, key, entry) for nb, key, entry in todo}
        for fut in cf.as_completed(futures):
            nb, key, entry = futures[fut]
            rec = fut.result()
            rec.update(key=key, executed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            status = "FAILED" if rec["error"] else "ok"
            print(f"  {status:>6} {rec['seconds']:7.1f} s  {nb.relative_to(ROOT)}", flush=True)
            entry.write_text(json.dumps(rec))
            results[nb] = dict(rec, cached=False)
    return results


# ---------------------------------------------------------------- processing for display
def _md_cell(text: str):
    import nbformat
    return nbformat.v4.new_markdown_cell(text)


# ---------------------------------------------------------------- no build-machine paths on the pages
DOCS_HOME_PREFIX = "datacurate-docs-home-"  # execute_notebook's $DATACURATE_HOME: tempfile.mkdtemp(prefix=...)


def _path_rules() -> list[tuple[re.Pattern, str]]:
    "Patterns of this machine's paths and what a page shows instead, most specific first."
    tmp = re.escape(tempfile.gettempdir().rstrip("/"))
    end = r"(?=[/\s'\"),\]}>:&;<]|$)"
    rules = [(re.compile(tmp + "/" + re.escape(DOCS_HOME_PREFIX) + r"[^/\s'\"]*" + end), "$DATACURATE_HOME")]
    # the virtualenv and the checkout before any temporary folder: a checkout may itself lie under /tmp
    roots = [(sys.prefix, "<venv>"), (str(ROOT), "<repo>"), (str(Path.home()), "~")]
    for path, label in sorted(roots, key=lambda r: -len(r[0])):
        if path and path != "/": rules.append((re.compile(re.escape(path.rstrip("/")) + end), label))
    rules.append((re.compile(tmp + r"/[^/\s'\"]+" + end), "/tmp/…"))
    return rules


def scrub_paths(text: str, rules=None) -> str:
    "`text` with the build machine's temporary folders, checkout, virtualenv and home folder replaced by neutral names."
    for pattern, label in rules or _path_rules():
        text = pattern.sub(label.replace("\\", "\\\\"), text)
    return text


def scrub_outputs(nb) -> int:
    "Scrub every text output of the notebook `nb` in place (streams, results, errors); returns how many changed."
    rules, changed = _path_rules(), 0
    def fix(value):
        nonlocal changed
        if isinstance(value, list): return [fix(v) for v in value]
        if not isinstance(value, str): return value
        new = scrub_paths(value, rules)
        changed += new != value
        return new
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out: out["text"] = fix(out["text"])
            if "traceback" in out: out["traceback"] = fix(out["traceback"])
            if "evalue" in out: out["evalue"] = fix(out["evalue"])
            for mime, value in (out.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json" and isinstance(value, str):
                    out["data"][mime] = fix(value)
    return changed


def process_for_docs(nb_json: str, run_note: str):
    """Turn an executed notebook into a docs page with nbdev's processors plus ours. Returns an nbformat notebook."""
    import nbformat
    from fastcore.nbio import dict2nb, nb2dict
    from nbdev.process import NBProcessor
    from nbdev.processors import clean_magics, filter_stream_, hide_, hide_line, populate_language, rm_header_dash, strip_ansi
    nb = dict2nb(json.loads(nb_json))

    def mark_cells(cell):
        "Our additions: drop `default_exp`/`include: false` cells, hide show_doc inputs and `echo: false` inputs."
        if cell.cell_type != "code": return
        d = cell.directives_
        tags = cell.metadata.setdefault("tags", [])
        if "default_exp" in d or str(d.get("include", [""])[0]).lower() == "false": del cell["source"]; return
        if "skip-execution" in tags:
            flag = next((f"#| {f}" for f in SKIP_FLAGS if f in d), "#| eval: false")
            cell.metadata["docs_skipped"] = flag
        if re.match(r"^\s*show_doc\(", cell.source or "") or str(d.get("echo", [""])[0]).lower() == "false":
            tags.append("remove-input")
        if str(d.get("output", [""])[0]).lower() == "false": tags.append("remove-output")
        if "export" in d or "exports" in d: tags.append("exported")

    procs = [populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics, hide_, mark_cells]
    NBProcessor(nb=nb, procs=procs, rm_directives=True).process()
    out = nbformat.reads(json.dumps(nb2dict(nb)), as_version=4)  # rejoins the line lists
    cells = []
    for cell in out.cells:
        cell.metadata.pop("execution", None)
        if "tags" in cell.metadata: cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "skip-execution"]
        flag = cell.metadata.pop("docs_skipped", None)
        if flag:
            cells.append(_md_cell(f"```{{note}}\nThe next cell is tagged `{flag}`: it is not run when the docs are "
                                  f"built (nor by the test suite). Run it yourself on a machine that suits it.\n```"))
        if cell.cell_type == "code" and not cell.source.strip() and not cell.get("outputs"): continue
        cells.append(cell)
    # the run-information note goes right after the title cell
    at = next((i + 1 for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
    cells.insert(at, _md_cell(run_note))
    out.cells = cells
    out.metadata.pop("widgets", None)
    scrub_outputs(out)
    return out


def run_note(rec: dict, hw: dict) -> str:
    when = rec.get("executed_at", "")[:10]
    reuse = " (outputs reused from that run: nothing they depend on has changed)" if rec.get("cached") else ""
    return ("```{admonition} How this page was run\n:class: run-info\n"
            f"Executed on **{hardware_text(hw)}**; {versions_text(hw)}. "
            f"The whole notebook ran in **{rec['seconds']:.1f} s** on {when}{reuse}.\n```")


# ---------------------------------------------------------------- API pages
def api_modules() -> list[tuple[str, str]]:
    "(distribution folder label, module name) for the core and every plugin package, from the exported files."
    mods = [("datacurate", f"datacurate.{p.stem}") for p in sorted((ROOT / "datacurate").glob("*.py"))
            if not p.stem.startswith("_")]
    for pkg in sorted((ROOT / "plugins").glob("*/*/__init__.py")):
        if "egg-info" in str(pkg): continue
        dist = pkg.parent.parent.name
        mods += [(dist, f"{pkg.parent.name}.{p.stem}") for p in sorted(pkg.parent.glob("*.py")) if not p.stem.startswith("_")]
    return mods


def _fmt_default(v) -> str:
    r = repr(v)
    return r if len(r) < 60 and "<" not in r else "..."


def _signature(obj) -> str:
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return "(...)"
    params = []
    for p in sig.parameters.values():
        s = ("*" if p.kind == p.VAR_POSITIONAL else "**" if p.kind == p.VAR_KEYWORD else "") + p.name
        if p.annotation is not p.empty:
            s += ": " + (p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation))
        if p.default is not p.empty: s += " = " + _fmt_default(p.default)
        params.append(s)
    ret = ""
    if sig.return_annotation is not sig.empty:
        ra = sig.return_annotation
        ret = " -> " + (ra if isinstance(ra, str) else inspect.formatannotation(ra))
    return "(" + ", ".join(params) + ")" + ret


def _doc(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    try:
        from fastcore.docments import docments
        dm = {k: v for k, v in docments(obj, full=False).items() if v and k != "return"} if callable(obj) else {}
    except Exception: dm = {}
    if dm and not inspect.isclass(obj):
        doc += "\n\n**Parameters**\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in dm.items())
    return doc


def api_page(module: str) -> str:
    mod = importlib.import_module(module)
    names = list(getattr(mod, "__all__", None) or [n for n, o in vars(mod).items() if not n.startswith("_")
                                                    and getattr(o, "__module__", None) == module])
    lines = [f"# `{module}`", "", inspect.getdoc(mod) or "", ""]
    src_nb = next((l.split("File to edit:")[1].strip() for l in (inspect.getsource(mod).splitlines()[:5])
                   if "File to edit:" in l), None)
    if src_nb:
        nbrel = Path(src_nb.replace("../", "", src_nb.count("../")))
        lines += [f"Exported from the notebook `{nbrel.as_posix()}`.", ""]
    for name in names:
        obj = getattr(mod, name, None)
        if obj is None: continue
        if inspect.isclass(obj):
            lines += [f"`````{{py:class}} {name}{_signature(obj)}", f":module: {module}", "", _doc(obj), ""]
            for mname, m in vars(obj).items():
                if mname.startswith("_") and mname != "__call__": continue
                if isinstance(m, (classmethod, staticmethod)): m = m.__func__
                if isinstance(m, property):
                    lines += [f"````{{py:property}} {mname}", "", inspect.getdoc(m) or "", "````", ""]
                elif inspect.isfunction(m) and inspect.getdoc(m):
                    lines += [f"````{{py:method}} {mname}{_signature(m)}", "", _doc(m), "````", ""]
            lines += ["`````", ""]
        elif inspect.isfunction(obj) or callable(obj) and hasattr(obj, "__wrapped__"):
            lines += [f"````{{py:function}} {name}{_signature(obj)}", f":module: {module}", "", _doc(obj), "````", ""]
        else:
            r = repr(obj)
            lines += [f"````{{py:data}} {name}", f":module: {module}", "", f"`{r if len(r) < 120 else type(obj).__name__}`",
                      "````", ""]
    return "\n".join(lines)


def write_api(dst: Path) -> list[str]:
    (dst / "api").mkdir(parents=True, exist_ok=True)
    mods = api_modules()
    by_dist: dict[str, list[str]] = {}
    for dist, m in mods:
        (dst / "api" / f"{m}.md").write_text(api_page(m))
        by_dist.setdefault(dist, []).append(m)
    idx = ["# API reference", "",
           "Generated at build time from the docstrings of the exported modules (each was exported from a notebook: "
           "the notebook is the longer story). The core library first, then each bundled plugin distribution.", ""]
    for dist, ms in by_dist.items():
        idx += [f"## {dist}", "", "```{toctree}", ":maxdepth: 1", "", *ms, "```", ""]
    (dst / "api" / "index.md").write_text("\n".join(idx))
    return [m for _, m in mods]


# ---------------------------------------------------------------- navigation
def toctrees(notebooks: list[Path]) -> str:
    names = [docname(nb) for nb in notebooks]
    guides = [n for n in names if n.startswith("guides/")]
    first = [g for key in GUIDE_FIRST for g in guides if g.split("/", 1)[1].split("_", 1)[-1] == key]
    later = [g for g in guides if g not in first]
    methods = [n for n in names if n.startswith("plugins/")]
    core = [n for n in names if n.startswith("core/")]
    other = [n for n in names if n not in guides + methods + core]

    def tree(caption, entries, maxdepth=1):
        if not entries: return ""
        return "\n".join(["```{toctree}", f":caption: {caption}", f":maxdepth: {maxdepth}", "", *entries, "```", ""])
    return "\n".join(filter(None, [tree("Start here", first), tree("Tutorials: one per method", methods),
                                   tree("Build your own", later), tree("Core library (notebooks)", core),
                                   tree("More notebooks", other), tree("Measured results", results_pages()),
                                   tree("Reference", ["api/index"])]))


def results_pages() -> list[str]:
    "Measured reports shipped under `docs/` (the arena's report.md): pages of their own in the navigation."
    return [p.relative_to(DOCS).with_suffix("").as_posix() for p in sorted((DOCS / "arena").glob("report.md"))]


# ---------------------------------------------------------------- build
def prepare(results: dict[Path, dict], hw: dict, total_exec: float) -> None:
    import nbformat
    if SRC.exists(): shutil.rmtree(SRC)
    shutil.copytree(DOCS, SRC, ignore=shutil.ignore_patterns("build.py", "check_links.py", "__pycache__", "*.pyc"))
    for nb, rec in results.items():
        out = SRC / (docname(nb) + ".ipynb")
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(process_for_docs(rec["nb"], run_note(rec, hw)), out)
        # files a notebook links to or displays next to it (images, small data) come along
        for extra in nb.parent.iterdir():
            if extra.is_file() and extra.suffix.lower() in (".png", ".jpg", ".jpeg", ".svg", ".gif"):
                shutil.copy2(extra, out.parent / extra.name)
    write_api(SRC)
    index = (SRC / "index.md").read_text().replace("<!-- toctrees -->", toctrees(list(results)))
    (SRC / "index.md").write_text(index)
    report = dict(hardware=hw, built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  execution_seconds=round(total_exec, 1),
                  notebooks={docname(nb): dict(seconds=r["seconds"], cached=r.get("cached", False),
                                               executed_at=r.get("executed_at")) for nb, r in results.items()})
    (SRC / "_execution_report.json").write_text(json.dumps(report, indent=1))


def sphinx(jobs: int) -> int:
    "Run Sphinx into `_proc/html` (myst-nb writes its image files beside its outdir, so that must be `_proc/`), then move it to `_site/`."
    html = PROC / "html"
    for d in (html, SITE):
        if d.exists(): shutil.rmtree(d)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-E", "-j", str(max(1, jobs)),
           "-d", str(PROC / "doctrees"), str(SRC), str(html)]
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    if rc == 0: shutil.move(str(html), str(SITE))
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("DOCS_JOBS", 2)), help="notebooks executed at once")
    ap.add_argument("--force", action="store_true", help="execute every notebook again, ignoring the cache")
    ap.add_argument("--only", nargs="*", help="build only notebooks whose path contains one of these strings")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    notebooks = discover()
    if args.only: notebooks = [nb for nb in notebooks if any(s in str(nb) for s in args.only)]
    results = execute_all(notebooks, args.jobs, args.force)
    failed = {nb: r for nb, r in results.items() if r.get("error")}
    for nb, r in failed.items():
        print(f"\n==== notebook {nb.relative_to(ROOT)} failed:\n{r['error'][-4000:]}", file=sys.stderr)
    if failed:
        print(f"\ndocs build FAILED: {len(failed)} notebook(s) raised an error", file=sys.stderr)
        return 1
    t_exec = time.perf_counter() - t0
    hw = hardware()
    prepare(dict(sorted(results.items())), hw, t_exec)
    print(f"notebooks ready in {t_exec:.1f} s; running Sphinx", flush=True)
    if sphinx(args.jobs) != 0:
        print("docs build FAILED: Sphinx reported warnings or errors (see above)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(DOCS))
    from check_links import check_site
    problems, n_pages, n_links = check_site(SITE)
    for p in problems: print("broken link:", p, file=sys.stderr)
    if problems:
        print(f"docs build FAILED: {len(problems)} broken internal link(s)", file=sys.stderr)
        return 1
    print(f"site built in {time.perf_counter() - t0:.1f} s: {n_pages} pages, {n_links} internal links checked -> {SITE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
