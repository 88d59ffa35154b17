"""What the frame tests share: an index over video files, and a clip's size.

Used by tests/parity/test_frames.py, test_frames_modes.py and test_jpeg.py.
"""

import csv
import json
import subprocess

HDR = ("id,actor,gender,vocal_channel,emotion,emotion_name,intensity,statement,repetition,"
       "label,label_name,split,video_path,audio_path").split(",")


def write_index(path, videos):
    """An index.csv with one neutral training clip per video (actor i + 1)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HDR)
        for i, v in enumerate(videos):
            a = i + 1
            w.writerow([f"01-01-01-01-01-{a:02d}", a, "male" if a % 2 else "female", 1, 1,
                        "neutral", 1, 1, 1, 6, "Neutral", "train", v, ""])
    return path


def display_size(path):
    """((displayed w, h), (stored w, h)) of the first video stream, by ffprobe:
    a rotation of 90 or 270 degrees swaps the displayed sides."""
    st = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries",
         "stream=width,height:stream_side_data=rotation", path],
        check=True, capture_output=True, text=True).stdout)["streams"][0]
    w, h = st["width"], st["height"]
    rot = [sd.get("rotation", 0) for sd in st.get("side_data_list", [])]
    return ((h, w) if rot and int(rot[0]) % 180 else (w, h)), (w, h)
