import json

import pytest

from deid.report import FAILED, IMAGES_FILE, OK, SPOOL_FILE, FaceRecord, ImageRecord, RecordSpool, read_records, write_report


def _record(name: str, status: str = OK, faces: int = 0) -> ImageRecord:
    face = FaceRecord(box=[1.0, 2.0, 3.0, 4.0], region=[0, 0, 5, 5], score=0.9, detector="centerface")
    return ImageRecord(name, name if status == OK else None, status, error=None if status == OK else "bad",
                       faces=[face] * faces, metadata_found=["exif"] if faces else [])


@pytest.mark.parametrize("arrival", [[0, 1, 2, 3], [3, 1, 0, 2], []])
def test_records_come_out_in_discovery_order_whatever_order_they_arrive_in(tmp_path, arrival):
    names = ["a.jpg", "b.png", "c.jpg", "d.gif"][: len(arrival)]
    statuses = [OK, FAILED, OK, FAILED]
    spool = RecordSpool(tmp_path)
    for index in arrival:
        spool.add(index, _record(names[index], statuses[index], faces=index))
    write_report(tmp_path, spool, {"counts": {}}, len(names))
    spool.close()
    assert [r["source"] for r in read_records(tmp_path)] == names
    assert not (tmp_path / SPOOL_FILE).exists()
    assert spool.tally.inputs == len(names)
    assert [f["source"] for f in spool.tally.failed_files] == [n for n, s in zip(names, statuses) if s == FAILED]
    assert spool.tally.faces == sum(i for i in range(len(names)) if statuses[i] == OK)


@pytest.mark.parametrize("added, missing", [([1], 0), ([0], 1)], ids=["first", "last"])
def test_a_missing_record_is_an_error_not_a_short_report(tmp_path, added, missing):
    spool = RecordSpool(tmp_path)
    for index in added:
        spool.add(index, _record(f"{index}.jpg"))
    with pytest.raises(ValueError, match=f"no record for file {missing}"):
        write_report(tmp_path, spool, {}, 2)
    spool.close()
    assert not (tmp_path / IMAGES_FILE).exists()


def test_each_line_is_one_json_record(tmp_path):
    spool = RecordSpool(tmp_path)
    spool.add(0, _record("名前 with space.jpg", faces=2))
    write_report(tmp_path, spool, {}, 1)
    spool.close()
    (line,) = (tmp_path / IMAGES_FILE).read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["source"] == "名前 with space.jpg" and len(json.loads(line)["faces"]) == 2


def test_a_face_record_says_how_many_detectors_saw_it_and_older_records_read_as_one():
    face = FaceRecord(box=[1.0, 2.0, 3.0, 4.0], region=[0, 0, 5, 5], score=0.9, detector="centerface", seen_by=2)
    data = ImageRecord("a.jpg", "a.jpg", OK, faces=[face]).to_dict()
    assert data["faces"][0]["seen_by"] == 2
    del data["faces"][0]["seen_by"]
    assert ImageRecord.from_dict(data).faces[0].seen_by == 1
