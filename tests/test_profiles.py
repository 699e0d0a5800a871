"""Profiles: validation names the file and the field, conflicts are caught, local overrides beat built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbphone.hid.open import select_driver
from usbphone.profiles import DeviceInfo, ProfileError, load_profiles, match_profile
from usbphone.profiles.loader import load_profile_file

HEADER = '[device]\nname = "X"\ndriver = "hid_telephony"\ntransport = "hidraw"\n'
MATCH = "[[match]]\nvid = 0x0b0e\nusage_page = 0x0b\n"


def write(root: Path, pid: str, text: str) -> Path:
    path = root / pid / "profile.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "local"
    root.mkdir()
    monkeypatch.setenv("USBPHONE_DEVICES", str(root))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return root


@pytest.mark.parametrize("text,field", [
    ("[device\nname=", "not valid TOML"),
    ('[device]\nname = "X"\ntransport = "hidraw"\n' + MATCH, "'device.driver'"),
    ('[device]\nname = "X"\ndriver = "warp"\ntransport = "hidraw"\n' + MATCH, "'device.driver' = 'warp'"),
    (HEADER.replace('"hidraw"', '"carrier-pigeon"') + MATCH, "'device.transport'"),
    (HEADER, r"\[\[match\]\]"),
    (HEADER + "[[match]]\nvid = 70000\n", "field 'vid'"),
    (HEADER + "[[match]]\nvid = 1\ncolour = 2\n", "unknown field 'colour'"),
    (HEADER + MATCH + '[options]\nhook = "sideways"\n', r"\[options\]: field 'hook'"),
    (HEADER + MATCH + "[quirks]\nrepeat_suppress_ms = true\n", r"\[quirks\]: quirk 'repeat_suppress_ms'"),
    (HEADER + MATCH + "[extras]\n", r"unknown table \[extras\]"),
])
def test_malformed_profile_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, "bad", text)
    with pytest.raises(ProfileError, match=rf"{path}.*{field}"):
        load_profile_file(path)


def test_conflicting_profiles_in_one_layer(local: Path) -> None:
    first = write(local, "a-one", HEADER + MATCH)
    second = write(local, "b-two", HEADER + MATCH)
    with pytest.raises(ProfileError) as err:
        load_profiles()
    assert str(second) in str(err.value) and str(first) in str(err.value)


def test_local_override_beats_built_in(local: Path) -> None:
    dev = DeviceInfo(vid=0x0B0E, pid=0x0307, name="Jabra", usage_pages=frozenset({0x0B, 0x0C}))
    assert match_profile(dev).id == "jabra-gn"  # the built-in
    write(local, "my-jabra", HEADER + MATCH + '[options]\nconsumer_mute = "mute"\n')
    prof = match_profile(dev)
    assert (prof.id, prof.layer, prof.options) == ("my-jabra", "user", {"consumer_mute": "mute"})
    profile, driver = select_driver(dev)
    assert profile == prof and driver.options == {"consumer_mute": "mute"}


def test_local_profile_with_a_built_in_id_replaces_it(local: Path) -> None:
    write(local, "poly-blackwire", HEADER + "[[match]]\nvid = 0x047f\n")
    prof = {p.id: p for p in load_profiles()}["poly-blackwire"]
    assert prof.layer == "user" and prof.quirks == {}


def test_usage_page_rule_skips_other_interfaces() -> None:
    consumer_only = DeviceInfo(vid=0x0B0E, pid=0x0307, usage_pages=frozenset({0x0C}))
    assert match_profile(consumer_only, load_profiles(include_local=False)) is None


def test_built_in_generic_profiles_load() -> None:
    ids = {p.id for p in load_profiles(include_local=False)}
    assert {"jabra-gn", "poly-blackwire", "epos-sennheiser"} <= ids


def test_every_built_in_fact_names_its_source() -> None:
    """Each profile says where its facts come from, and so does each [[match]] rule (issue 2: a "source" note
    for every fact); each profile directory has its NOTES.md."""
    for prof in load_profiles(include_local=False):
        assert prof.source.strip(), f"{prof.path}: [device] source is empty"
        for i, rule in enumerate(prof.matches):
            assert rule.source.strip(), f"{prof.path}: [[match]] #{i + 1} has no source"
        assert (Path(prof.path).parent / "NOTES.md").is_file(), f"{prof.path}: no NOTES.md beside it"


def test_unreadable_local_directory_is_skipped_not_fatal(tmp_path, monkeypatch):
    """The service user cannot enter root's ~/.config: built-in profiles still load."""
    import os

    from usbphone.profiles import loader

    locked = tmp_path / "locked"
    (locked / "x").mkdir(parents=True)
    monkeypatch.setenv("USBPHONE_DEVICES", str(locked / "x"))
    real_glob = loader.Path.glob

    def refusing_glob(self, pattern):
        if str(self).startswith(str(locked)):
            raise PermissionError(13, os.strerror(13), str(self))
        return real_glob(self, pattern)

    monkeypatch.setattr(loader.Path, "glob", refusing_glob)
    profiles = loader.load_profiles()
    assert any(p.id == "yealink-usb-p1k" for p in profiles)
