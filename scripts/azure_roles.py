#!/usr/bin/env python3
"""Azure built-in role definitions, from the Azure docs' role pages, to runnergen's data file.

The pages are MicrosoftDocs/azure-docs `articles/role-based-access-control/built-in-roles/
<category>.md`; each role's section carries its role definition as a ```json block. This reads
every ```json block whose "roleType" is "BuiltInRole" in the `*.md` files of a directory (an
excerpt of a page, holding only some of its blocks, reads the same) and writes one JSON file:
the source (repository, each page's path and commit, the date) and per role its name, GUID,
page and permission blocks (actions, notActions, dataActions, notDataActions, and whether the
block carries a condition), values exactly as the page has them. Roles are sorted by name and
the output is byte-for-byte the same for the same input.

    python3 scripts/azure_roles.py PAGES_DIR OUT.json --date 2026-12-06 \
        --commit general.md=<sha> --commit security.md=<sha> ...

The list of every built-in role's name and GUID (no permissions) comes from another public
source, Azure/terraform-azure-avm-utl-roledefinitions `modules/cached-data/role_definitions.tf.json`
(`locals.role_definitions_cached.value`: `name` the GUID, `roleName`); `names` turns it into a
tab-separated file, one `<guid>\t<name>` a line, sorted by name, under a header naming the source:

    python3 scripts/azure_roles.py names role_definitions.tf.json OUT.tsv --date 2026-12-06 \
        --commit <sha of that repository>

Standard library only. Exit 1 with a message on a malformed block, a GUID that is not one, a
page without a --commit, or one role name with two definitions.
"""

import argparse
import json
import pathlib
import re
import sys

REPO = "MicrosoftDocs/azure-docs"
PREFIX = "articles/role-based-access-control/built-in-roles"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BLOCK = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
LISTS = ("actions", "notActions", "dataActions", "notDataActions")


class Bad(Exception):
    pass


def role_of(block, page):
    """The role a parsed ```json block defines, or None when it is not a built-in role."""
    if not isinstance(block, dict) or block.get("roleType") != "BuiltInRole":
        return None
    name, guid = block.get("roleName"), block.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Bad(f"{page}: a BuiltInRole block without roleName")
    if not isinstance(guid, str) or not GUID.match(guid):
        raise Bad(f"{page}: role {name!r}: name {guid!r} is not a lowercase GUID")
    rid = block.get("id")
    if rid is not None and not str(rid).lower().endswith("/" + guid):
        raise Bad(f"{page}: role {name!r}: id {rid!r} does not end in its GUID")
    perms = block.get("permissions")
    if not isinstance(perms, list) or not perms:
        raise Bad(f"{page}: role {name!r}: no permissions")
    out = []
    for p in perms:
        entry = {}
        for key in LISTS:
            values = p.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise Bad(f"{page}: role {name!r}: {key} is not a list of strings")
            entry[key] = values
        entry["condition"] = bool(p.get("condition"))
        out.append(entry)
    return {"name": name, "id": guid, "page": f"{PREFIX}/{page}", "permissions": out}


def roles_of(text, page):
    """Every built-in role the ```json blocks of one page's text define, in page order."""
    found = []
    for m in BLOCK.finditer(text):
        try:
            block = json.loads(m.group(1))
        except json.JSONDecodeError as e:
            raise Bad(f"{page}: a ```json block does not parse: {e}") from e
        role = role_of(block, page)
        if role is not None:
            found.append(role)
    return found


def catalogue(directory, commits, date):
    pages, roles = [], {}
    for path in sorted(pathlib.Path(directory).glob("*.md")):
        page = path.name
        if page not in commits:
            raise Bad(f"{page}: no --commit {page}=<sha> given")
        found = roles_of(path.read_text(encoding="utf-8"), page)
        for role in found:
            seen = roles.get(role["name"])
            if seen is not None and seen != role:
                raise Bad(f"{page}: role {role['name']!r} is defined twice, differently")
            roles[role["name"]] = role
        pages.append({"path": f"{PREFIX}/{page}", "commit": commits[page], "roles": len(found)})
    return {
        "source": {"repo": REPO, "retrieved": date, "pages": pages},
        "roles": [roles[n] for n in sorted(roles, key=lambda n: (n.lower(), n))],
    }


NAMES_REPO = "Azure/terraform-azure-avm-utl-roledefinitions"
NAMES_PATH = "modules/cached-data/role_definitions.tf.json"


def names_tsv(tf_json, commit, date):
    """The names file's text from role_definitions.tf.json's text."""
    roles = json.loads(tf_json)["locals"]["role_definitions_cached"]["value"]
    rows = {}
    for r in roles:
        guid, name = r.get("name"), r.get("roleName")
        if not isinstance(guid, str) or not GUID.match(guid):
            raise Bad(f"{NAMES_PATH}: {name!r}: {guid!r} is not a lowercase GUID")
        if not isinstance(name, str) or "\t" in name or "\n" in name or not name.strip():
            raise Bad(f"{NAMES_PATH}: {guid}: role name {name!r} is empty or has a tab or newline")
        if rows.get(name, guid) != guid:
            raise Bad(f"{NAMES_PATH}: role {name!r} has two GUIDs")
        rows[name] = guid
    if len(set(rows.values())) != len(rows):
        raise Bad(f"{NAMES_PATH}: one GUID has two names")
    head = [
        "# Every Azure built-in role's name and role-definition GUID: <guid><TAB><name>, sorted by name.",
        f"# Source: {NAMES_REPO} {NAMES_PATH} at commit {commit}, read {date} ({len(rows)} roles).",
        "# Written by scripts/azure_roles.py names; permissions of some of them: azure-builtin-roles.json.",
    ]
    body = [f"{rows[n]}\t{n}" for n in sorted(rows, key=lambda n: (n.lower(), n))]
    return "\n".join(head + body) + "\n"


def names_main(argv):
    ap = argparse.ArgumentParser(prog="azure_roles.py names")
    ap.add_argument("tf_json", help="role_definitions.tf.json")
    ap.add_argument("out", help="the tab-separated file to write")
    ap.add_argument("--date", required=True)
    ap.add_argument("--commit", required=True, help=f"the {NAMES_REPO} commit it was read at")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[0-9a-f]{40}", args.commit):
        print(f"azure_roles: --commit {args.commit}: not 40 hex digits", file=sys.stderr)
        return 1
    try:
        text = names_tsv(pathlib.Path(args.tf_json).read_text(encoding="utf-8"), args.commit, args.date)
    except (Bad, KeyError, TypeError, json.JSONDecodeError) as e:
        print(f"azure_roles: {e}", file=sys.stderr)
        return 1
    pathlib.Path(args.out).write_text(text, encoding="utf-8")
    return 0


def main(argv):
    if argv[:1] == ["names"]:
        return names_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", help="directory of <category>.md pages (or excerpts of them)")
    ap.add_argument("out", help="the JSON file to write")
    ap.add_argument("--date", required=True, help="when the pages were read (YYYY-MM-DD)")
    ap.add_argument("--commit", action="append", default=[], metavar="PAGE=SHA",
                    help="the azure-docs commit a page was read at (once per page)")
    args = ap.parse_args(argv)
    commits = {}
    for c in args.commit:
        page, _, sha = c.partition("=")
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            print(f"azure_roles: --commit {c}: not PAGE=<40 hex digits>", file=sys.stderr)
            return 1
        commits[page] = sha
    try:
        data = catalogue(args.pages, commits, args.date)
    except Bad as e:
        print(f"azure_roles: {e}", file=sys.stderr)
        return 1
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    pathlib.Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
