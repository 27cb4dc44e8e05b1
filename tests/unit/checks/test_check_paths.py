"""DS5xx: build contexts, Dockerfiles, bind-mount sources, secret files."""

from __future__ import annotations

from check_helpers import codes


def test_remote_build_contexts_are_not_checked(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  a: {build: "https://github.com/example/app.git#main"}
  b: {build: {context: "git@github.com:example/app.git", dockerfile: Dockerfile.prod}}
"""
        }
    )
    assert not {"DS501", "DS502"} & set(codes(found))


def test_build_context_that_is_a_file(findings):
    found = findings(
        {"compose.yaml": "services:\n  web:\n    build: ./Dockerfile\n", "Dockerfile": "FROM scratch\n"}
    )
    (bad,) = [f for f in found if f.code == "DS501"]
    assert "is a file" in bad.message
    assert "dockerfile: Dockerfile" in bad.hint


def test_dockerfile_that_is_a_directory(findings):
    found = findings({"compose.yaml": "services:\n  web:\n    build: {context: ., dockerfile: .}\n"})
    (bad,) = [f for f in found if f.code == "DS502"]
    assert "is a directory" in bad.message
    assert bad.location == "compose.yaml:3"


def test_inline_dockerfile_and_lowercase_name(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  a: {build: {context: ./a, dockerfile_inline: "FROM scratch"}}
  b: {build: ./b}
""",
            "a/.keep": "",
            "b/dockerfile": "FROM scratch\n",
        }
    )
    assert not {"DS501", "DS502"} & set(codes(found))


def test_drupal_style_data_directory_is_info_only(findings):
    found = findings(
        {
            "compose.yaml": "services:\n  db:\n    image: mariadb\n    volumes:\n"
            "      - ./data/db:/var/lib/mysql\n",
            "data/.gitkeep": "",
        }
    )
    assert [(f.code, str(f.severity)) for f in found] == [("DS504", "info")]
    assert found[0].location == "compose.yaml:5"


def test_file_like_targets_warn(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: nginx
    volumes:
      - ./conf:/etc/nginx/conf.d
      - ./site:/etc/nginx/nginx.conf
      - ./run/docker.sock:/var/run/docker.sock
      - ./python3.11:/usr/lib/python3.11
"""
        }
    )
    by_target = {f.message.split(" at ")[1].split(",")[0]: f.code for f in found if " at " in f.message}
    assert by_target == {"/etc/nginx/nginx.conf": "DS505", "/var/run/docker.sock": "DS505"}
    assert codes(found).count("DS504") == 2  # conf.d is a directory; python3.11 is not a file


def test_paths_resolve_against_the_project_and_home(findings, tmp_path):
    home = tmp_path / "home"
    (home / "certs").mkdir(parents=True)
    found = findings(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    volumes:\n"
            "      - ~/certs:/certs:ro\n      - ../proj:/self\n"
        },
        env={"HOME": str(home)},
    )
    assert "DS504" not in codes(found)


def test_unused_secret_files_are_not_checked(findings):
    found = findings(
        {"compose.yaml": "services:\n  web:\n    image: a\nsecrets:\n  unused:\n    file: ./nope.txt\n"}
    )
    assert "DS506" not in codes(found)
