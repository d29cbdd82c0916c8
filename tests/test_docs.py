"""The docs stay true: every relative link resolves, and every launcher command shown names a
preset file, a variant and config keys that exist (without training anything)."""

import importlib
import re
import shlex

import pytest

import experiments
from rnn_research import train
from tests.paths import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def links(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.relative_to(ROOT)}: link to {target} names no file"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest.read_text()), f"{page.relative_to(ROOT)}: no heading #{anchor} in {path}"


def launcher_commands(text: str) -> list[str]:
    """``python -m experiments.main ...`` lines of the bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if "python -m experiments.main" in line and "<" not in line and "$" not in line:
                commands.append(line[line.index("python -m experiments.main") :])
    return commands


COMMANDS = [(page, c) for page in PAGES for c in launcher_commands(page.read_text())]


def set_override(config, dotted: str, value: str, where: str) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for key in parents:
        assert key in node, f"{where}: unknown config key {dotted}"
        node = node[key]
    assert leaf in node, f"{where}: unknown config key {dotted}"


def test_the_docs_show_launcher_commands():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("page,command", COMMANDS, ids=lambda x: x if isinstance(x, str) else x.name)
def test_launcher_commands_name_real_presets_variants_and_keys(page, command):
    where = f"{page.relative_to(ROOT)}: {command}"
    args = shlex.split(command)[3:]
    flags = dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)
    if "list" in {a.removeprefix("--") for a in args}:
        return
    file, _, variant = flags["config"].partition(":")
    assert (ROOT / file).is_file(), f"{where}: no preset file {file}"
    preset = importlib.import_module(file.removesuffix(".py").replace("/", "."))
    if variant:
        assert variant in preset.VARIANTS, f"{where}: {file} has no variant {variant!r}"
    config = preset.get_config(variant) if variant else preset.get_config()
    for key, value in flags.items():
        if key.startswith("config."):
            set_override(config, key.removeprefix("config."), value, where)
    train.check_config(config)  # the values are in range too
    mode = flags.get("mode", "train")
    extra = getattr(experiments.get(config.experiment), "MODES", {})
    assert mode in {"train", "eval", *extra}, f"{where}: --mode={mode} is not a mode of {config.experiment}"
