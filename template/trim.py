"""The shared files a dropped part is woven into: pyproject.toml, the Makefile, the CLI, the
embedded database's name."""

from __future__ import annotations

import json
import re

from template.edits import Answers, TemplateError, drop_array_item, sub_once

REDIS_DEPENDENCY = r'^    "redis[>=<~\[].*",\n'
# the import contracts of the lab's own rooms: each a block up to a blank line, named "The lab..."
LAB_CONTRACTS_NOTE = r"^\n# The lab's own rooms .*\n"
LAB_CONTRACT = re.compile(
    r'^\n?\[\[tool\.importlinter\.contracts\]\]\nname = "The lab.*\n(?:.+\n)*', re.MULTILINE
)


def trim_pyproject(text: str, answers: Answers) -> str:
    where = "pyproject.toml"
    description = json.dumps(answers.description)
    text = sub_once(text, r'^description = ".*"$', f"description = {description}", where=where)
    if not answers.leaky_twin:
        text = sub_once(text, r'^\w+ = "app\.leaky[.:].*"\n', "", where=where)
        text = drop_array_item(text, "app.leaky")
    if not answers.load_lab:
        text = re.sub(r'^\w+ = "load[.:].*"\n', "", text, flags=re.MULTILINE)
        text = sub_once(text, r"^lab = \[\n(?:    .*\n)*\]\n", "", where=where)
        text = sub_once(text, r'^"load/\*\*" = .*\n', "", where=where)
        for item in ("load", "load/**"):
            text = drop_array_item(text, item)
        text = drop_array_item(text, "lab")
        text = sub_once(text, LAB_CONTRACTS_NOTE, "", where=where)
        text, dropped = LAB_CONTRACT.subn("", text)
        if not dropped:
            raise TemplateError(f"{where}: no contract of the lab's found; update template/trim.py")
    if not answers.redis:
        text = sub_once(text, REDIS_DEPENDENCY, "", where=where)
        text = drop_array_item(text, "app.redis_cache")
    return import_contract(text, answers)


def import_contract(text: str, answers: Answers) -> str:
    """Name the contract after what it still forbids; with nothing left to forbid, it keeps the
    rule every project has: the service never imports its tests."""
    where = "pyproject.toml [tool.importlinter]"
    kept = [
        name
        for name, keep in (("leaky twin", answers.leaky_twin), ("load lab", answers.load_lab))
        if keep
    ]
    if kept:
        name = "The fixed build never imports the " + " or the ".join(kept)
    else:
        name = "The service never imports its tests"
        text = sub_once(
            text, r"^forbidden_modules = \[\]$", 'forbidden_modules = ["tests"]', where=where
        )
        text = sub_once(
            text, r'^root_packages = \["app"\]$', 'root_packages = ["app", "tests"]', where=where
        )
    contract = re.search(r"^\[\[tool\.importlinter\.contracts\]\]\nname = .*$", text, re.MULTILINE)
    if contract is None:
        raise TemplateError(f"{where}: no contract found; update copier_tasks.py")
    replacement = f"[[tool.importlinter.contracts]]\nname = {json.dumps(name)}"
    return text[: contract.start()] + replacement + text[contract.end() :]


def drop_make_target(text: str, target: str) -> str:
    where = f"Makefile target {target}"
    text = sub_once(text, rf"^{re.escape(target)}:.*\n(?:\t.*\n)*\n?", "", where=where)
    return sub_once(text, rf"^(\.PHONY:.*?) {re.escape(target)}\b", r"\1", where=where)


def trim_makefile(text: str, answers: Answers) -> str:
    dropped = []
    if not answers.leaky_twin:
        dropped.append("serve-leaky")
    if not (answers.leaky_twin and answers.load_lab):
        dropped.append("compare")
    if not answers.load_lab:
        dropped += ["soak", "bench"]
    for target in dropped:
        text = drop_make_target(text, target)
    return text


def trim_cli(text: str, answers: Answers) -> str:
    if answers.leaky_twin:
        return text
    # `serve --build leaky` would only say that the build is missing: offer no such choice
    return sub_once(text, r', "leaky": "app\.leaky\.main:app"', "", where="app/dev/cli.py BUILDS")


def set_database(text: str, answers: Answers) -> str:
    return sub_once(
        text,
        r'^EMBEDDED_DATABASE = ".*"$',
        f"EMBEDDED_DATABASE = {json.dumps(answers.database_name)}",
        where="app/dev/database.py",
    )


def drop_dropped_paths(text: str, answers: Answers) -> str:
    """A list item naming a path inside a dropped folder (a test's probe paths, say) goes."""
    folders = [
        f for f, keep in (("app/leaky", answers.leaky_twin), ("load", answers.load_lab)) if not keep
    ]
    for folder in folders:
        item = rf'"{re.escape(folder)}/[^"\n]*"'
        text = re.sub(rf"{item}, ", "", text)
        text = re.sub(rf", {item}(?=\])", "", text)
    return text


def trim_dockerfile(text: str, answers: Answers) -> str:
    """Without the lab: no `COPY load`, no lab stage, no word of `--target lab` in the header."""
    if answers.load_lab:
        return text
    text = text.replace(" (the default target) and the load lab's image (--target lab)", "")
    text = re.sub(r"^COPY load .*\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^# -+ lab:.*\n(?:(?!# -+ ).*\n)*", "", text, flags=re.MULTILINE)
    text = re.sub(r"^#.*--target lab.*\n", "", text, flags=re.MULTILINE)
    return text.replace("the dev and lab groups (pyproject makes both default)", "the dev group")


# docs/soak.md's links into docs/lab.md, and the generated README's sections that say the same
LAB_GUIDE_LINKS = {
    "(lab.md#soak-your-own-service)": "(../README.md#your-routes-under-the-lab)",
    "(lab.md#did-my-fix-fix-it)": "(../README.md#did-my-fix-fix-it)",
}


def point_soak_doc_at_readme(text: str, answers: Answers) -> str:
    """Without the twin, docs/lab.md stays behind (it is the guide to comparing against the
    twin); docs/soak.md's links to it then go to the README's own sections on the same."""
    if answers.leaky_twin or not answers.load_lab:
        return text
    for link, readme in LAB_GUIDE_LINKS.items():
        text = sub_once(text, re.escape(link), readme, where=f"docs/soak.md link {link}")
    return text
