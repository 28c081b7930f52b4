"""Run the import-linter contracts in pyproject.toml over the `okr` package.

import-linter (grimp) finds a package by walking its folder, and neither sees the setuptools
`package-dir` mapping nor follows the folder links in `.typing/okr`. So this lays out the
package as Python would import it — real folders holding links to the real files — in a
temporary directory and runs the contracts there. Exit code: import-linter's own.

Usage: python -P scripts/lint_imports.py [REPO_ROOT]   (default: this repository)
"""

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
        return lint_imports(config_filenames=(str(root / "pyproject.toml"),), no_cache=True,
                            no_logo=True)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT))
