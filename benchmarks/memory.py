"""Memory readings the benchmarks share (Linux /proc, with ru_maxrss as the fallback elsewhere)."""
import resource


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"): return int(line.split()[1]) / 1024
    except OSError: pass
    return None


def rss_now_mib() -> float:
    "Resident set now (VmRSS)."
    v = _status_mib("VmRSS")
    return float("nan") if v is None else v


def reset_peak():
    "Restart the kernel's peak-RSS counter (VmHWM), so the next peak is the measured call's, not the set-up's."
    try:
        with open("/proc/self/clear_refs", "w") as f: f.write("5")
    except OSError: pass


def peak_mib() -> float:
    "Peak resident set since the last `reset_peak` (VmHWM), or the process's ru_maxrss where /proc is missing."
    v = _status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if v is None else v
