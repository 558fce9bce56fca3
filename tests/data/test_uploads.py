"""Uploads keep the name the person gave them (so messages name their file), under a content hash."""

from dataclasses import dataclass

from ui.uploads import save_upload


@dataclass
class Upload:
    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def test_an_upload_keeps_its_name_and_same_names_stay_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSTUDIO_USER_DATA", str(tmp_path))
    a = save_upload(Upload("My Photos.zip", b"one"), "uploads")
    b = save_upload(Upload("My Photos.zip", b"two"), "uploads")
    assert a.name == b.name == "My_Photos.zip" and a != b
    assert a.read_bytes() == b"one" and b.read_bytes() == b"two"
    assert save_upload(Upload("My Photos.zip", b"one"), "uploads") == a  # the same file again costs nothing


def test_an_upload_name_cannot_leave_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSTUDIO_USER_DATA", str(tmp_path))
    path = save_upload(Upload("../../etc/passwd", b"x"), "uploads")
    assert path.is_relative_to(tmp_path / "uploads") and path.name == "passwd"
