"""The README stays true: every config key, env override and command is documented."""
import dataclasses

from bot.cli import main
from bot.config import ENV_OVERRIDES, PROJECT_ROOT, Settings
from bot.config import GRID_WORKER_KEYS, GROUP_KEYS

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_documented():
    settings = Settings()
    for section in dataclasses.fields(Settings):
        value = getattr(settings, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        for f in dataclasses.fields(value):
            assert f"`{section.name}.{f.name}`" in README, f"{section.name}.{f.name}"


def test_every_group_key_is_documented():
    for key in GROUP_KEYS:
        assert f"`groups.{key}`" in README, key


def test_every_grid_worker_key_is_documented():
    for key in GRID_WORKER_KEYS:
        assert f"`grid_workers.{key}`" in README, key


def test_every_environment_override_is_documented():
    for name in ENV_OVERRIDES:
        assert f"`{name}`" in README, name


def test_every_command_is_documented():
    for name in main.commands:
        assert f"`{name}" in README, name


def test_quick_start_is_two_commands():
    assert "make run" in README and "make test" in README


def test_every_module_is_in_the_readme_module_map():
    design = README[README.index("## Design"):]
    missing = [str(p.relative_to(PROJECT_ROOT)) for p in sorted((PROJECT_ROOT / "bot").rglob("*.py"))
               if p.name != "__init__.py" or p.parent.name == "channels" or p.parent.name == "bot"]
    missing = [m for m in missing if f"`{m}`" not in design]
    assert missing == []


def test_every_package_says_what_lives_there():
    for init in (PROJECT_ROOT / "bot").rglob("__init__.py"):
        first = init.read_text("utf-8").lstrip()
        assert first.startswith('"""') and len(first.split("\n")[0]) > 10, init
