"""extract-mel and scripts/reference_mel.py against librosa.

1. Both against the real librosa outputs in $RVT_SHARED/librosa-ref, stage by
   stage (y16k, stftpow, mel, db, logmel300) on its seven inputs, plus the window
   and the mel filterbank.
2. extract-mel against reference_mel.py on edge files made here (silence, shorter
   than n_fft, stereo, 44.1 kHz, 24-bit, float, clipped, white noise, 8 s, 12 s,
   an mp4) and on the sample corpus (data/sample, skipped when absent): at most
   0.01 dB apart on every bin, first and last frames included, and the same
   valid-frame counts; also with other parameters and with noise/pre-emphasis.
"""
import csv
import glob
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.environ.get('RVT_ROOT') or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('RVT_BIN') or os.path.join(ROOT, 'bin')
EM = os.path.join(BIN, 'extract-mel')
REF = os.path.join(os.environ.get('RVT_SHARED', ''), 'librosa-ref')
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
import reference_mel as rm  # noqa: E402

HAVE_REF = os.path.isfile(os.path.join(REF, 'manifest.json'))
needs_ref = pytest.mark.skipif(not HAVE_REF, reason='no $RVT_SHARED/librosa-ref')
STEMS = ([os.path.splitext(f['input'])[0] for f in json.load(open(os.path.join(REF, 'manifest.json')))['files']]
         if HAVE_REF else [])
INPUTS = {}
for s in STEMS:
    for ext in ('.wav', '.mp4'):
        if os.path.exists(os.path.join(REF, s + ext)):
            INPUTS[s] = os.path.join(REF, s + ext)

DB_TOL = 0.01       # the bound between extract-mel and the reference
LIBROSA_DB_TOL = 1e-4   # measured 7.6e-6: NumPy's float32 log10 vs a rounded double log10


def close_rel(a, b, rtol=1e-6):
    """|a - b| <= rtol * |b| + rtol * 1e-6 * max|b|: relative, with a floor for
    bins ~120 dB below the loudest where float32 rounding of the FFT dominates."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max() if b.size else 0
    err = np.abs(a - b) - rtol * (np.abs(b) + 1e-6 * scale)
    return err.max() <= 0 if a.size else True, float((np.abs(a - b) / np.maximum(np.abs(b), 1e-30)).max())


def run(args, **kw):
    p = subprocess.run([EM] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    assert p.returncode == 0, p.stderr.decode()
    return p


def read_frames(d):
    with open(os.path.join(d, 'mel_frames.csv')) as f:
        return {r['id']: int(r['mel_frames']) for r in csv.DictReader(f)}


# ------------------------------------------------------------------ librosa stages

def check_stages(get, stem):
    """get(stage) -> array for stage in y, stftpow, mel, db, logmel300."""
    y = get('y')
    ry = np.load(os.path.join(REF, stem + '.y16k.npy'))
    assert y.shape == ry.shape, (y.shape, ry.shape)
    ok, rel = close_rel(y, ry)
    assert ok, 'y16k max rel %g' % rel
    for stage in ('stftpow', 'mel'):
        ok, rel = close_rel(get(stage), np.load(os.path.join(REF, '%s.%s.npy' % (stem, stage))))
        assert ok, '%s max rel diff %g' % (stage, rel)
    for stage in ('db', 'logmel300'):
        a, b = get(stage), np.load(os.path.join(REF, '%s.%s.npy' % (stem, stage)))
        assert a.shape == b.shape
        d = np.abs(a - b).max()
        assert d <= LIBROSA_DB_TOL, '%s max abs diff %g dB' % (stage, d)


@needs_ref
def test_reference_window_and_filterbank():
    import scipy.signal
    w = scipy.signal.get_window('hann', 2048, fftbins=True)
    ok, rel = close_rel(w, np.load(os.path.join(REF, 'window_hann_2048.npy')))
    assert ok, rel
    ok, rel = close_rel(rm.mel_filterbank(16000, 2048, 64), np.load(os.path.join(REF, 'melfb_16000_2048_64.npy')))
    assert ok, rel


@needs_ref
@pytest.mark.parametrize('stem', STEMS)
def test_reference_vs_librosa(stem):
    st = {}
    out, T = rm.logmel(INPUTS[stem], stem, {}, st)
    st['logmel300'] = out
    check_stages(st.__getitem__, stem)


@pytest.fixture(scope='module')
def em_ref_dump(tmp_path_factory):
    d = tmp_path_factory.mktemp('em_ref')
    run(['-q', '-j', '2', '--npy', str(d / 'npy'), '--dump-stages', str(d / 'st')] + [INPUTS[s] for s in STEMS])
    return d


@needs_ref
def test_extract_mel_window_and_filterbank(em_ref_dump):
    ok, rel = close_rel(np.load(em_ref_dump / 'st' / 'window.npy'), np.load(os.path.join(REF, 'window_hann_2048.npy')))
    assert ok, rel
    ok, rel = close_rel(np.load(em_ref_dump / 'st' / 'melfb.npy'), np.load(os.path.join(REF, 'melfb_16000_2048_64.npy')))
    assert ok, rel


@needs_ref
@pytest.mark.parametrize('stem', STEMS)
def test_extract_mel_vs_librosa(em_ref_dump, stem):
    def get(stage):
        if stage == 'logmel300':
            return np.load(em_ref_dump / 'npy' / (stem + '.npy'))
        return np.load(em_ref_dump / 'st' / ('%s.%s.npy' % (stem, stage)))
    check_stages(get, stem)
    frames = read_frames(em_ref_dump / 'npy')
    assert frames[stem] == np.load(os.path.join(REF, stem + '.db.npy')).shape[1]


# ------------------------------------------------------------------ edge files

def write_wav(path, y, sr, fmt='s16'):
    """y: float [n] or [n, ch] in [-1, 1] (clipped); fmt s16 | s24 | f32."""
    y = np.asarray(y, np.float64)
    if y.ndim == 1:
        y = y[:, None]
    ch = y.shape[1]
    if fmt == 'f32':
        data, tag, bits = y.astype('<f4').tobytes(), 3, 32
    elif fmt == 's24':
        v = np.clip(np.round(y * 8388608), -8388608, 8388607).astype('<i4')
        data, tag, bits = v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), 1, 24
    else:
        v = np.clip(np.round(y * 32768), -32768, 32767).astype('<i2')
        data, tag, bits = v.tobytes(), 1, 16
    ba = ch * bits // 8
    fmtc = struct.pack('<HHIIHH', tag, ch, sr, sr * ba, ba, bits)
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmtc)) + fmtc
    if tag == 3:
        body += b'fact' + struct.pack('<II', 4, y.shape[0])
    body += b'data' + struct.pack('<I', len(data)) + data + (b'\0' if len(data) % 2 else b'')
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', len(body)) + body)


def speechy(sr, seconds, rng, f0=140.0):
    """A voiced, vibrato'd harmonic signal with syllable-like envelopes and breath noise."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f = f0 * (1 + 0.08 * np.sin(2 * np.pi * 3.1 * t) + 0.03 * rng.standard_normal() )
    ph = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * ph) / k ** 1.2 for k in range(1, 30) if k * f0 < sr / 2.2)
    env = np.clip(np.sin(2 * np.pi * 2.3 * t + rng.uniform(0, 6)), 0, None) ** 2
    y = 0.25 * y * env + 0.01 * rng.standard_normal(n)
    return y


@pytest.fixture(scope='module')
def edge_files(tmp_path_factory):
    d = tmp_path_factory.mktemp('edge')
    rng = np.random.default_rng(1234)
    files = {}

    def add(name, y, sr, fmt='s16'):
        p = str(d / (name + '.wav'))
        write_wav(p, y, sr, fmt)
        files[name] = p

    add('silence', np.zeros(48000), 48000)
    add('short', speechy(48000, 0.1, rng), 48000)               # 1600 samples at 16 kHz < n_fft
    add('stereo', np.stack([speechy(48000, 2.0, rng), speechy(48000, 2.0, rng, 210)], 1), 48000)
    add('sr44k1', speechy(44100, 2.3, rng), 44100)
    add('s24', speechy(48000, 1.7, rng), 48000, 's24')
    add('f32', speechy(32000, 1.3, rng), 32000, 'f32')
    add('clipped', np.clip(6 * speechy(48000, 1.5, rng), -1, 1), 48000)
    add('white', np.clip(0.3 * rng.standard_normal(48000 * 2), -1, 1), 48000)
    add('long8s', speechy(48000, 8.0, rng), 48000)
    add('long12s', speechy(22050, 12.0, rng), 22050)           # cropped to 300 frames
    add('sr16k', speechy(16000, 1.0, rng), 16000)              # no resampling
    add('quiet', 1e-4 * speechy(48000, 1.0, rng), 48000)
    mp4 = str(d / 'aac.mp4')
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', files['stereo'], '-c:a', 'aac', '-b:a', '96k', mp4],
                   check=True)
    files['aac'] = mp4
    return files


def compare_em_ref(files, tmp, params=None, set_args=()):
    """Runs extract-mel over files and the reference in-process; asserts the bound."""
    out = os.path.join(tmp, 'out')
    run(['-q', '-j', '2', '--npy', out] + list(set_args) + list(files.values()))
    frames = read_frames(out)
    worst = (0.0, None)
    for name, path in files.items():
        want, T = rm.logmel(path, name, params or {})
        got = np.load(os.path.join(out, name + '.npy'))
        assert got.shape == want.shape and got.dtype == np.float32
        assert frames[name] == T, (name, frames[name], T)
        d = np.abs(got.astype(np.float64) - want).max()
        # by d alone: a tie (0 == 0 where a file comes out exact) would compare a name with None
        worst = max(worst, (d, name), key=lambda t: t[0])
        assert d <= DB_TOL, '%s: max abs diff %g dB' % (name, d)
        # first and last frames explicitly (the centered padding lives there)
        last = min(T, want.shape[1]) - 1
        assert np.abs(got[:, 0] - want[:, 0]).max() <= DB_TOL
        assert np.abs(got[:, last] - want[:, last]).max() <= DB_TOL
    print('%d files %s: worst %.3g dB (%s)' % (len(files), ' '.join(set_args), worst[0], worst[1]))
    return worst


def test_edge_files(edge_files, tmp_path):
    compare_em_ref(edge_files, str(tmp_path))


def test_edge_files_other_parameters(edge_files, tmp_path):
    params = {'sr': 22050, 'n_fft': 1024, 'hop': 256, 'n_mels': 128, 'fmin': 50.0, 'fmax': 7000.0,
              'top_db': 60.0, 'max_len': 400}
    sets = ['--sr', '22050', '--n-fft', '1024', '--hop', '256', '--n-mels', '128', '--fmin', '50',
            '--fmax', '7000', '--top-db', '60', '--max-len', '400']
    pick = {k: edge_files[k] for k in ('short', 'stereo', 'white', 'long12s', 'aac')}
    compare_em_ref(pick, str(tmp_path), params, sets)


def test_edge_files_noise_and_preemphasis(edge_files, tmp_path):
    params = {'noise_level': 0.02, 'noise_seed': 7, 'preemphasis': 0.97}
    sets = ['--noise-level', '0.02', '--noise-seed', '7', '--preemphasis', '0.97']
    pick = {k: edge_files[k] for k in ('silence', 'stereo', 'long8s', 'aac')}
    compare_em_ref(pick, str(tmp_path), params, sets)


def test_float_fft_within_bound(edge_files, tmp_path):
    """audio.fft: float trades exactness for speed; it must still hold the bound."""
    pick = {k: edge_files[k] for k in ('stereo', 'white', 'quiet', 'long8s')}
    compare_em_ref(pick, str(tmp_path), {}, ['--fft', 'float'])


# ------------------------------------------------------------------ sample corpus

SAMPLE = os.path.join(ROOT, 'data', 'sample')


@pytest.mark.skipif(not os.path.isdir(SAMPLE), reason='no data/sample')
def test_sample_corpus(tmp_path):
    wavs = sorted(glob.glob(os.path.join(SAMPLE, '**', '03-*.wav'), recursive=True))
    mp4s = sorted(glob.glob(os.path.join(SAMPLE, '**', '01-*.mp4'), recursive=True))
    assert wavs, 'data/sample has no wav files'
    # every wav, and every 10th mp4 through the audioread path (ffmpeg is slow in the reference)
    files = {}
    for p in wavs + mp4s[::10]:
        files[os.path.splitext(os.path.basename(p))[0]] = p
    compare_em_ref(files, str(tmp_path))
