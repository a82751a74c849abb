"""Every code snippet in docs/*.md runs, offline, and every relative link resolves.

Conventions for the fenced blocks of a page (fences start at column 0 and always name a
language, ```text for diagrams and synopses):

- ```python blocks run in order in one namespace per page, in a temporary working directory
  (with a copy of ``minespace.toml`` when the page mentions it). A block whose first line
  starts with ``>>>`` is a doctest: its printed output is checked too (ELLIPSIS and
  NORMALIZE_WHITESPACE, as the docstrings).
- ```bash / ```console / ```sh blocks: ``minespace ...`` commands run through click's
  ``CliRunner`` in the same directory and must exit with 0; ``make``, ``pip`` and ``sudo``
  lines are not run. In ```console blocks only lines starting with ``$ `` are commands.
- Blocks that call ``ms.maps.screenshot`` or ``ms.maps.open_map`` need Chromium; without it
  the page still runs its other blocks, then the test is skipped naming those blocks.
- A block preceded by ``<!-- skip: reason -->`` (blank lines allowed in between) is not run.
  Prefer a runnable snippet (a shown block writing a small real file, or the bundled
  ``ms.datasets.kuzbass()``) to a skip.
- Other languages (``text``, ``toml``...) are shown, not run.
"""

from __future__ import annotations

import doctest
import io
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
PYTHON = {"python", "py", "pycon"}
SHELL = {"bash", "sh", "shell", "console"}
NOT_RUN = {"make", "pip", "sudo", "apt-get"}
BROWSER_CALL = re.compile(r"\b(?:screenshot|open_map)\(")
FENCE = re.compile(r"^```([\w+-]*)\s*$")
SKIP = re.compile(r"^<!--\s*skip:\s*(\S.*?)\s*-->$")
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int          # 1-based line of the block's first code line in the page
    skip: str | None   # reason from a <!-- skip: reason --> marker


def code_blocks(text: str, name: str = "page") -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{name}, line {i + 1}: code fence never closed")
        above = i - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        skip = SKIP.match(lines[above].strip()) if above >= 0 else None
        blocks.append(Block(fence.group(1).lower(), "\n".join(lines[i + 1:end]) + "\n",
                            i + 2, skip.group(1) if skip else None))
        i = end + 1
    return blocks


def _where(path: Path, block: Block) -> str:
    return f"docs/{path.name}, {block.lang} block at line {block.line}"


def _run_python(path: Path, block: Block, namespace: dict) -> None:
    if block.code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(
            block.code, namespace, _where(path, block), str(path), block.line - 1)
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
        result = runner.run(test, out=report.write, clear_globs=False)
        if result.failed:
            pytest.fail(f"{_where(path, block)}: doctest failed\n{report.getvalue()}",
                        pytrace=False)
        return
    # pad with blank lines so that tracebacks give the line number in the page
    code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
    try:
        exec(code, namespace)
    except Exception as exc:
        raise AssertionError(f"{_where(path, block)} failed: {type(exc).__name__}: {exc}") \
            from exc


def _shell_commands(block: Block) -> list[str]:
    lines = block.code.splitlines()
    if block.lang == "console":
        return [line[2:] for line in lines if line.startswith("$ ")]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _run_shell(path: Path, block: Block) -> int:
    from click.testing import CliRunner

    from minespace.cli import cli

    ran = 0
    for command in _shell_commands(block):
        args = shlex.split(command, comments=True)
        if not args or args[0] in NOT_RUN:
            continue
        if args[0] != "minespace":
            pytest.fail(f"{_where(path, block)}: cannot run {command!r}; only minespace "
                        "commands run (mark the block <!-- skip: reason --> otherwise)",
                        pytrace=False)
        result = CliRunner().invoke(cli, args[1:])
        if result.exit_code != 0:
            pytest.fail(f"{_where(path, block)}: {command!r} exited with {result.exit_code}"
                        f"\n{result.output}", pytrace=False)
        ran += 1
    return ran


def _have_chromium() -> bool:
    from minespace.maps.screenshot import chromium_path

    try:
        chromium_path()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_doc_page_runs(path, tmp_path, monkeypatch, no_network):
    text = path.read_text(encoding="utf-8")
    if "minespace.toml" in text:
        shutil.copy(ROOT / "minespace.toml", tmp_path / "minespace.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    no_browser = []
    for block in code_blocks(text, path.name):
        if block.skip:
            continue
        if block.lang in PYTHON:
            if BROWSER_CALL.search(block.code) and not _have_chromium():
                no_browser.append(block.line)
                continue
            _run_python(path, block, namespace)
        elif block.lang in SHELL:
            _run_shell(path, block)
    if no_browser:
        pytest.skip(f"docs/{path.name}: blocks at lines {no_browser} need Chromium; "
                    "the other blocks ran")


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_doc_code_fences_name_a_language(path):
    untagged = [b.line - 1 for b in code_blocks(path.read_text(encoding="utf-8"), path.name)
                if not b.lang]
    assert not untagged, f"docs/{path.name}: fences at lines {untagged} name no language " \
                         "(use ```text for diagrams and synopses)"


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_doc_links_resolve(path):
    text = path.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets
             if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    missing = [t for t in local if not (path.parent / t).exists()]
    assert not missing, f"docs/{path.name}: broken links {missing}"


def test_code_blocks_parser():
    page = ("text\n\n```python\nx = 1\n```\n\n<!-- skip: needs a licence -->\n\n"
            "```bash\nminespace demo\n```\n```text\na ─► b\n```\n")
    blocks = code_blocks(page)
    assert [(b.lang, b.line, b.skip) for b in blocks] == [
        ("python", 4, None), ("bash", 10, "needs a licence"), ("text", 13, None)]
    assert blocks[0].code == "x = 1\n"


def test_wrong_doctest_output_fails(tmp_path):
    block = code_blocks("```python\n>>> 1 + 1\n3\n```\n")[0]
    with pytest.raises(pytest.fail.Exception, match="doctest failed"):
        _run_python(tmp_path / "example.md", block, {})


def test_failing_python_block_names_page_and_line(tmp_path):
    block = code_blocks("text\n```python\nx = 1\nundefined_name\n```\n")[0]
    with pytest.raises(AssertionError, match=r"example.md, python block at line 3") as info:
        _run_python(tmp_path / "example.md", block, {})
    assert info.value.__cause__.__traceback__.tb_next.tb_lineno == 4


def test_failing_cli_command_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = code_blocks("```console\n$ minespace validate missing.toml\noutput\n```\n")[0]
    assert _shell_commands(block) == ["minespace validate missing.toml"]
    with pytest.raises(pytest.fail.Exception, match="exited with 2"):
        _run_shell(tmp_path / "example.md", block)


def test_pages_run_offline(no_network):
    import socket
    import urllib.request

    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)   # TEST-NET-1
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com", timeout=1)  # through the dead proxy
