"""run.json's provenance: package versions and the git commit of the spec's folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.run.provenance import git_commit, versions


def test_versions_name_every_package_of_the_stack():
    import keras
    import numpy

    v = versions()
    assert v["keras"] == keras.__version__ and v["numpy"] == numpy.__version__
    assert set(v) == {"python", "tensorflow", "keras", "keras_tuner", "ai_edge_litert", "numpy", "dlbuild"}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_of_a_spec_folder_matches_git(tmp_path: Path):
    repo = tmp_path / "project"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "a.yaml").write_text("name: a\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                   "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path)}).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    assert git_commit(repo / "specs") == head
    git("pack-refs", "--all")  # the branch now lives only in packed-refs
    assert not any((repo / ".git" / "refs" / "heads").iterdir())
    assert git_commit(repo / "specs") == head
    git("checkout", "-q", "--detach")
    assert git_commit(repo) == head
    assert git_commit(tmp_path) is None
