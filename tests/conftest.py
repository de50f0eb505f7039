"""The test session's two switches (a fresh seed for the randomized tests, missing peers as failures),
and the headless browser the trace pages' tests share.

Fresh seed: the random-program tests and the fuzz smoke test run their fixed regression sets and,
besides, a small set drawn from one seed per session: ADCLI_SEED when it is set (to replay a
failure), otherwise a fresh one, on a developer's machine as in CI. The header names it.

Peers: PyTorch, JAX, mpmath, Playwright, interegular, Dask, Zarr, Graphviz's `dot`, Chromium and
npm. A local run skips what needs a missing one; with ADCLI_REQUIRE_PEERS=1 (set by .ci/run) such a skip is a
failure, and so is the run when a peer is missing, whichever test file asked for it and however.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import metadata, util

import pytest

SEED = pytest.StashKey[int]()
MISSING = pytest.StashKey[list]()

# Each peer: how to find it (a module, or programs on PATH) and how a skip's reason names it.
MODULE_PEERS = {"torch": r"\btorch\b|pytorch", "jax": r"\bjax", "mpmath": r"mpmath",
                "playwright": r"playwright", "interegular": r"interegular", "distributed": r"\bdask\b|distributed",
                "zarr": r"\bzarr\b"}
PROGRAM_PEERS = {"dot": (("dot",), r"graphviz|\bdot\b(?![- ]product)"),
                 "chromium": (("chromium", "chromium-browser"), r"chromium"),
                 "npm": (("npm",), r"\bnpm\b")}
# pytest.importorskip's reason: in CI every module a test imports is installed, so any such skip fails.
IMPORT_SKIP = r"could not import"


# ---------------------------------------------------------------------------------------------
# The fresh seed
# ---------------------------------------------------------------------------------------------

def draw_seed() -> int:
    """ADCLI_SEED when set, else 32 fresh random bits."""
    given = os.environ.get("ADCLI_SEED", "").strip()
    if not given:
        return int.from_bytes(os.urandom(4), "big")
    try:
        return int(given)
    except ValueError:
        raise pytest.UsageError(f"ADCLI_SEED must be an integer, not {given!r}") from None


@pytest.fixture(scope="session")
def fresh_seed(request) -> int:
    """This session's seed for the randomized tests' fresh runs (printed in the header)."""
    return request.config.stash[SEED]


# ---------------------------------------------------------------------------------------------
# The peers
# ---------------------------------------------------------------------------------------------

def required() -> bool:
    return os.environ.get("ADCLI_REQUIRE_PEERS") == "1"


def peer_states() -> list[tuple[str, str | None]]:
    """(peer, version or path, or None when missing), without importing any of them."""
    states = []
    for name in MODULE_PEERS:
        if util.find_spec(name) is None:
            states.append((name, None))
            continue
        try:
            states.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            states.append((name, "found"))
    for name, (programs, _) in PROGRAM_PEERS.items():
        states.append((name, next((p for p in map(shutil.which, programs) if p), None)))
    return states


def names_a_peer(reason: str) -> bool:
    patterns = [IMPORT_SKIP, *MODULE_PEERS.values(), *(pattern for _, pattern in PROGRAM_PEERS.values())]
    return any(re.search(p, reason, re.IGNORECASE) for p in patterns)


def as_failure(report, reason: str) -> None:
    report.outcome = "failed"
    report.longrepr = (f"ADCLI_REQUIRE_PEERS=1, so a skip for want of a peer is a failure: {reason}\n"
                       "CI (.ci/run) installs every peer; a new one must be installed there too.")


def skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)
    return reason.removeprefix("Skipped: ")


# ---------------------------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------------------------

def pytest_configure(config):
    config.stash[SEED] = draw_seed()
    config.stash[MISSING] = [name for name, state in peer_states() if state is None]
    if required():
        # test_trace_html.py's own switch: its browser fixture then fails instead of skipping.
        os.environ["ADCLI_REQUIRE_BROWSER"] = "1"


def header(config) -> list[str]:
    """The seed and the peers, as the session's first lines."""
    seed = config.stash[SEED]
    how = "from ADCLI_SEED" if os.environ.get("ADCLI_SEED", "").strip() else "fresh"
    peers = ", ".join(f"{name} {state or 'MISSING'}" for name, state in peer_states())
    rule = "a missing peer fails the run" if required() else "tests that need a missing peer skip"
    return [f"adcli: ADCLI_SEED={seed} ({how}; replay the fresh random runs with ADCLI_SEED={seed})",
            f"adcli peers: {peers} ({rule}; ADCLI_REQUIRE_PEERS={'1' if required() else 'unset'})"]


def pytest_report_header(config):
    return header(config)


def pytest_sessionstart(session):
    # pytest -q (the README's command) prints no header: the seed must show all the same.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and session.config.get_verbosity() < 0 and not session.config.option.collectonly:
        for line in header(session.config):
            reporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if required() and report.skipped and not hasattr(report, "wasxfail") and names_a_peer(skip_reason(report)):
        as_failure(report, skip_reason(report))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()
    # A module-level importorskip skips the whole file at collection.
    if required() and report.skipped and names_a_peer(skip_reason(report)):
        as_failure(report, skip_reason(report))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != pytest.ExitCode.OK:
        terminalreporter.write_line(header(config)[0])
    if required() and config.stash[MISSING]:
        terminalreporter.write_line(f"ADCLI_REQUIRE_PEERS=1, but these peers are missing: "
                                    f"{', '.join(config.stash[MISSING])}: the run fails", red=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    if required() and session.config.stash[MISSING] and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable(reason: str):
    """Skip, except where ADCLI_REQUIRE_BROWSER is set (CI): there a missing browser is a failure."""
    if os.environ.get("ADCLI_REQUIRE_BROWSER"):
        pytest.fail(f"ADCLI_REQUIRE_BROWSER is set, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, through Playwright: for the trace pages' tests."""
    if CHROMIUM is None:
        unavailable("no Chromium on this machine (apt-get install chromium); CI installs it")
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("Playwright's Python package is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()
