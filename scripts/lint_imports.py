"""Run the import-linter contracts in pyproject.toml over the `okr` package, and one check
import-linter cannot make: no DuckDB SQL outside projections/.

import-linter (grimp) finds a package by walking its folder, and neither sees the setuptools
`package-dir` mapping nor follows the folder links in `.typing/okr`. So this lays out the
package as Python would import it — real folders holding links to the real files — in a
temporary directory and runs the contracts there. Exit code: import-linter's own.

The SQL check reads every module outside projections/ and refuses a use of a projection's
connection (`.con`) or SQL written into a `.query(...)` call (a string literal as its first
argument; `okr sql` passes the user's text, a variable, through). It prints the contract's name
(the import-linter one that keeps projections/queries.py and tables.py private) and the module.

Usage: python -P scripts/lint_imports.py [REPO_ROOT]   (default: this repository)
"""

import ast
import os
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_tree(root: Path, into: Path) -> None:
    """Mirror `okr.*` from pyproject's package-dir mapping: folders made, files linked."""
    mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in mapping["package-dir"].items():
        target = into.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in (root / folder).glob("*.py"):
            (target / source.name).symlink_to(source.resolve())


SQL_CONTRACT = "The projection's SQL stays inside projections/"


def projection_sql_outside(root: Path) -> list[str]:
    """'okr.<part>.<module>:<line> …' for each projection SQL written outside projections/."""
    mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = []
    for package, folder in mapping["package-dir"].items():
        if package == "okr.projections":
            continue
        for source in sorted((root / folder).glob("*.py")):
            module = f"{package}.{source.stem}"
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Attribute) and node.attr == "con":
                    found.append(f"{module}:{node.lineno} uses a projection's connection (.con)")
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and node.func.attr == "query" and node.args
                      and isinstance(node.args[0], ast.Constant | ast.JoinedStr)):
                    found.append(f"{module}:{node.lineno} writes SQL into .query()")
    return found


def main(root: Path = ROOT) -> int:
    """Check the contracts of `root`/pyproject.toml over the package laid out from `root`."""
    # The editable install's finder would answer for `okr` with the unmapped root folder.
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.modules.pop("okr", None)
    from importlinter.cli import lint_imports

    with tempfile.TemporaryDirectory(prefix="okr-lint-") as tmp:
        package_tree(root, Path(tmp))
        sys.path.insert(0, tmp)
        os.chdir(tmp)  # import-linter puts the working directory, holding okr/, on sys.path
        code = lint_imports(config_filenames=(str(root / "pyproject.toml"),), no_cache=True,
                            no_logo=True)
    sql = projection_sql_outside(root)
    print(f"\n{SQL_CONTRACT} (SQL written outside): {'BROKEN' if sql else 'KEPT'}")
    for line in sql:
        print(f"  {line}")
    return code or (1 if sql else 0)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT))
