#!/usr/bin/python3
"""Reference log-mel features: librosa 0.10's steps re-implemented in NumPy/SciPy.

librosa cannot be installed on our machines, so this module redoes, operation
for operation, what the seed's feature code runs:

    y, _ = librosa.load(path, sr=16000)
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=64)
    db = librosa.power_to_db(S)            # ref=1.0, amin=1e-10, top_db=80
    out = db zero-padded on the right / cropped to 300 frames

written from librosa 0.10.2's documented algorithm and source (core/audio.py load,
resample, to_mono; core/spectrum.py stft, _spectrogram, power_to_db; filters.py
mel; core/convert.py mel_frequencies, hz_to_mel, mel_to_hz, fft_frequencies),
with the same dtypes at every step.  The libraries underneath are the same ones
the Python stack uses:

* libsndfile through ctypes (soundfile is a cffi wrapper of it): sf_readf_float;
* when libsndfile cannot open the file, librosa's audioread fallback: the ffmpeg
  CLI's `ffmpeg -i FILE -f s16le -`, sample rate and channels parsed from its
  banner as audioread does, then int16 / 32768;
* libsoxr through ctypes, called as python-soxr 0.5 calls it for a 1-D float32
  array (csoxr_split_ch: SOXR_FLOAT32_S in and out, soxr_quality_spec(HQ, 0),
  chunks of max(1000, 48000 * in / out) samples, then a NULL flush), followed
  by librosa's fix_length to ceil(n * sr_out / sr_in).

Options beyond the seed, off by default, as extract-mel has them (same
arithmetic, so the two agree): audio.noise_level / noise_seed (counter-based
splitmix64 + Box-Muller noise keyed by the clip id, see lib/dsp/logmel.h) and
audio.preemphasis (y[n] - c * y[n-1], y[0] kept, after the noise).

Usage:
    reference_mel.py [--set audio.KEY=VALUE ...] [--stages DIR] --npy DIR INDEX.csv|FILE...
As a module: logmel(path, clip_id, params) -> (float32 [n_mels, max_len], n_frames).
"""

import argparse
import csv
import ctypes
import ctypes.util
import math
import os
import re
import subprocess
import sys

import numpy as np
import scipy.signal

DEFAULTS = {
    'sr': 16000, 'n_fft': 2048, 'hop': 512, 'n_mels': 64, 'fmin': 0.0, 'fmax': 0.0,
    'top_db': 80.0, 'amin': 1e-10, 'ref': 1.0, 'max_len': 300, 'preemphasis': 0.0,
    'noise_level': 0.0, 'noise_seed': 0, 'res_type': 'soxr_hq', 'min_samples': 512,
}


class LoadError(Exception):
    pass


# ---------------------------------------------------------------- libsndfile

class _SFInfo(ctypes.Structure):
    _fields_ = [('frames', ctypes.c_int64), ('samplerate', ctypes.c_int),
                ('channels', ctypes.c_int), ('format', ctypes.c_int),
                ('sections', ctypes.c_int), ('seekable', ctypes.c_int)]


_sf = ctypes.CDLL(ctypes.util.find_library('sndfile') or 'libsndfile.so.1')
_sf.sf_open.restype = ctypes.c_void_p
_sf.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_SFInfo)]
_sf.sf_readf_float.restype = ctypes.c_int64
_sf.sf_readf_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
_sf.sf_close.argtypes = [ctypes.c_void_p]
_sf.sf_strerror.restype = ctypes.c_char_p
_sf.sf_strerror.argtypes = [ctypes.c_void_p]
_SFM_READ = 0x10


def load_sndfile(path):
    """soundfile.read(path, dtype='float32', always_2d=False).T -> (y, sr)."""
    info = _SFInfo()
    h = _sf.sf_open(os.fsencode(path), _SFM_READ, ctypes.byref(info))
    if not h:
        raise LoadError(_sf.sf_strerror(None).decode())
    try:
        out = np.zeros((info.frames, info.channels), dtype=np.float32)
        got = _sf.sf_readf_float(h, out.ctypes.data, info.frames)
        out = out[:got]
    finally:
        _sf.sf_close(h)
    if info.channels == 1:
        out = out[:, 0]
    return out.T, info.samplerate


# ---------------------------------------------------------------- audioread path

def load_audioread(path):
    """librosa's audioread fallback: `ffmpeg -i path -f s16le -`, then / 32768."""
    p = subprocess.run(['ffmpeg', '-nostdin', '-i', path, '-f', 's16le', '-'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise LoadError('ffmpeg failed: ' + p.stderr.decode(errors='replace').strip().splitlines()[-1])
    sr = channels = 0
    # audioread.ffdec.FFmpegAudioFile._parse_info on the input's "audio:" line
    for line in p.stderr.decode(errors='replace').lower().splitlines():
        if line.strip().startswith('output'):
            break
        if 'audio:' in line:
            m = re.search(r'(\d+) hz', line)
            sr = int(m.group(1)) if m else 0
            m = re.search(r'hz, ([^,]+),', line)
            if not m:
                channels = 0
            elif m.group(1) == 'stereo':
                channels = 2
            else:
                c = re.match(r'(\d+)\.?(\d)?', m.group(1))
                channels = sum(map(int, c.group().split('.'))) if c else 1
            break
    if not sr or not channels:
        raise LoadError('no audio stream')
    # librosa.util.buf_to_float(frame, n_bytes=2, dtype=float32)
    y = (1.0 / float(1 << 15)) * np.frombuffer(p.stdout, '<i2').astype(np.float32)
    if channels > 1:
        y = y.reshape((-1, channels)).T
    return y, sr


def to_mono(y):
    """librosa.to_mono: np.mean over the channel axis (float32)."""
    if y.ndim > 1:
        y = np.mean(y, axis=tuple(range(y.ndim - 1)))
    return y


# ---------------------------------------------------------------- libsoxr

class _IOSpec(ctypes.Structure):
    _fields_ = [('itype', ctypes.c_int), ('otype', ctypes.c_int), ('scale', ctypes.c_double),
                ('e', ctypes.c_void_p), ('flags', ctypes.c_ulong)]


class _QSpec(ctypes.Structure):
    _fields_ = [('precision', ctypes.c_double), ('phase_response', ctypes.c_double),
                ('passband_end', ctypes.c_double), ('stopband_begin', ctypes.c_double),
                ('e', ctypes.c_void_p), ('flags', ctypes.c_ulong)]


_soxr = ctypes.CDLL(ctypes.util.find_library('soxr') or 'libsoxr.so.0')
_soxr.soxr_io_spec.restype = _IOSpec
_soxr.soxr_io_spec.argtypes = [ctypes.c_int, ctypes.c_int]
_soxr.soxr_quality_spec.restype = _QSpec
_soxr.soxr_quality_spec.argtypes = [ctypes.c_ulong, ctypes.c_ulong]
_soxr.soxr_create.restype = ctypes.c_void_p
_soxr.soxr_create.argtypes = [ctypes.c_double, ctypes.c_double, ctypes.c_uint,
                              ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_IOSpec),
                              ctypes.POINTER(_QSpec), ctypes.c_void_p]
_soxr.soxr_process.restype = ctypes.c_char_p
_soxr.soxr_process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
_soxr.soxr_delete.argtypes = [ctypes.c_void_p]
_SOXR_FLOAT32_S = 4
_RECIPES = {'soxr_qq': 0, 'soxr_lq': 1, 'soxr_mq': 2, 'soxr_hq': 4, 'soxr_vhq': 6}


def soxr_resample(x, in_rate, out_rate, recipe):
    """python-soxr 0.5 csoxr_split_ch<float> for one channel."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    ilen = x.shape[0]
    olen = int(ilen * out_rate / in_rate + 1)        # size_t olen = ilen * out / in + 1
    div_len = int(max(1000., 48000 * in_rate / out_rate))
    err = ctypes.c_char_p()
    io = _soxr.soxr_io_spec(_SOXR_FLOAT32_S, _SOXR_FLOAT32_S)
    q = _soxr.soxr_quality_spec(recipe, 0)
    h = _soxr.soxr_create(in_rate, out_rate, 1, ctypes.byref(err), ctypes.byref(io),
                          ctypes.byref(q), None)
    if err.value:
        raise RuntimeError(err.value.decode())
    y = np.zeros(olen, dtype=np.float32)
    out_pos = 0
    odone = ctypes.c_size_t()
    try:
        for idx in range(0, ilen, div_len):
            ip = (ctypes.c_void_p * 1)(x.ctypes.data + 4 * idx)
            op = (ctypes.c_void_p * 1)(y.ctypes.data + 4 * out_pos)
            e = _soxr.soxr_process(h, ip, min(div_len, ilen - idx), None, op, olen - out_pos,
                                   ctypes.byref(odone))
            if e:
                raise RuntimeError(e.decode())
            out_pos += odone.value
        op = (ctypes.c_void_p * 1)(y.ctypes.data + 4 * out_pos)
        e = _soxr.soxr_process(h, None, 0, None, op, olen - out_pos, ctypes.byref(odone))
        if e:
            raise RuntimeError(e.decode())
        out_pos += odone.value
    finally:
        _soxr.soxr_delete(h)
    return y[:out_pos]


def fix_length(y, size):
    """librosa.util.fix_length: zero-pad or trim the last axis."""
    n = y.shape[-1]
    if n > size:
        return y[..., :size]
    if n < size:
        return np.pad(y, (0, size - n), mode='constant')
    return y


def resample(y, orig_sr, target_sr, res_type='soxr_hq'):
    """librosa.resample for the soxr res_types (fix=True, scale=False)."""
    if orig_sr == target_sr:
        return y
    ratio = float(target_sr) / orig_sr
    n_samples = int(np.ceil(y.shape[-1] * ratio))
    y_hat = soxr_resample(y, orig_sr, target_sr, _RECIPES[res_type])
    y_hat = fix_length(y_hat, n_samples)
    return np.asarray(y_hat, dtype=y.dtype)


def load(path, sr=16000, res_type='soxr_hq'):
    """librosa.load(path, sr=sr, mono=True): soundfile first, audioread on failure."""
    if not os.path.exists(path):
        raise LoadError('No such file or directory')
    try:
        y, sr_native = load_sndfile(path)
    except LoadError:
        y, sr_native = load_audioread(path)
    y = to_mono(y)
    if y.size == 0:
        raise LoadError('no audio samples')
    if sr is not None:
        y = resample(y, sr_native, sr, res_type)
    return y


# ---------------------------------------------------------------- spectrum

def stft_power(y, n_fft=2048, hop=512):
    """np.abs(librosa.stft(y, n_fft, hop, window='hann', center=True,
    pad_mode='constant')) ** 2 (complex64 STFT, float32 power)."""
    fft_window = scipy.signal.get_window('hann', n_fft, fftbins=True).reshape(-1, 1)
    yp = np.pad(y, (n_fft // 2, n_fft // 2), mode='constant')
    n_frames = 1 + (len(yp) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_fft, n_frames), strides=(yp.itemsize, hop * yp.itemsize), writeable=False)
    stft = np.zeros((1 + n_fft // 2, n_frames), dtype=np.complex64, order='F')
    stft[:] = np.fft.rfft(fft_window * frames, axis=-2)
    return np.abs(stft) ** 2.0


def hz_to_mel(frequencies):
    """librosa.hz_to_mel, Slaney (htk=False)."""
    frequencies = np.asanyarray(frequencies)
    f_min, f_sp = 0.0, 200.0 / 3
    mels = (frequencies - f_min) / f_sp
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if frequencies.ndim:
        log_t = frequencies >= min_log_hz
        mels[log_t] = min_log_mel + np.log(frequencies[log_t] / min_log_hz) / logstep
    elif frequencies >= min_log_hz:
        mels = min_log_mel + np.log(frequencies / min_log_hz) / logstep
    return mels


def mel_to_hz(mels):
    """librosa.mel_to_hz, Slaney (htk=False)."""
    mels = np.asanyarray(mels)
    f_min, f_sp = 0.0, 200.0 / 3
    freqs = f_min + f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if mels.ndim:
        log_t = mels >= min_log_mel
        freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    elif mels >= min_log_mel:
        freqs = min_log_hz * np.exp(logstep * (mels - min_log_mel))
    return freqs


def mel_filterbank(sr, n_fft, n_mels=128, fmin=0.0, fmax=None):
    """librosa.filters.mel(htk=False, norm='slaney', dtype=np.float32)."""
    if fmax is None or fmax <= 0:
        fmax = float(sr) / 2
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    """librosa.power_to_db with a constant ref."""
    S = np.asarray(S)
    magnitude = S
    ref_value = np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, magnitude))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


# ---------------------------------------------------------------- options

def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def _splitmix64(x):
    with np.errstate(over='ignore'):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def noise(clip_id, seed, n):
    """N(0, 1) samples of extract-mel's counter-based generator (lib/dsp/logmel.h)."""
    key = np.uint64(fnv1a64(clip_id) ^ int(_splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF))))
    k = np.arange((n + 1) // 2, dtype=np.uint64)
    with np.errstate(over='ignore'):
        a = _splitmix64(key + np.uint64(2) * k)
        b = _splitmix64(key + np.uint64(2) * k + np.uint64(1))
    u1 = ((a >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2.0 * np.log(u1))
    th = 2.0 * np.pi * u2
    z = np.empty(2 * len(k))
    z[0::2] = r * np.cos(th)
    z[1::2] = r * np.sin(th)
    return z[:n]


# ---------------------------------------------------------------- one clip

def logmel(path, clip_id='', params=None, stages=None):
    """Features of one file: (float32 [n_mels, max_len], n_frames before pad/crop).

    stages, if a dict, receives 'y', 'stftpow', 'mel', 'db' as extract-mel's
    --dump-stages writes them."""
    p = dict(DEFAULTS)
    p.update(params or {})
    y = load(path, sr=p['sr'], res_type=p['res_type'])
    if len(y) < p['min_samples']:
        raise LoadError('too short for one frame: %d samples at %d Hz' % (len(y), p['sr']))
    if stages is not None:
        stages['y'] = y.copy()
    if p['noise_level'] > 0:
        amp = float(np.max(np.abs(y))) * p['noise_level']
        y = (y.astype(np.float64) + amp * noise(clip_id, int(p['noise_seed']), len(y))).astype(np.float32)
    if p['preemphasis'] != 0:
        y64 = y.astype(np.float64)
        y = y.copy()
        y[1:] = (y64[1:] - p['preemphasis'] * y64[:-1]).astype(np.float32)
    S = stft_power(y, n_fft=p['n_fft'], hop=p['hop'])
    fb = mel_filterbank(p['sr'], p['n_fft'], n_mels=p['n_mels'], fmin=p['fmin'],
                        fmax=p['fmax'] if p['fmax'] > 0 else None)
    mel = np.einsum('...ft,mf->...mt', S, fb, optimize=True)    # librosa melspectrogram
    top_db = None if p['top_db'] is None or p['top_db'] < 0 else p['top_db']
    db = power_to_db(mel, ref=p['ref'], amin=p['amin'], top_db=top_db)
    if stages is not None:
        stages.update(stftpow=S, mel=mel, db=db)
    T = db.shape[1]
    out = np.zeros((p['n_mels'], p['max_len']), dtype=np.float32)
    keep = min(T, p['max_len'])
    out[:, :keep] = db[:, :keep]
    return out, T


# ---------------------------------------------------------------- command line

def _parse_set(s, params):
    key, _, value = s.partition('=')
    key = key[len('audio.'):] if key.startswith('audio.') else key
    if key not in DEFAULTS:
        raise SystemExit('reference_mel.py: unknown key %r' % key)
    d = DEFAULTS[key]
    if key == 'top_db' and value in ('none', 'null', '~'):
        params[key] = None
    elif isinstance(d, str):
        params[key] = value
    elif isinstance(d, int) and not isinstance(d, bool):
        params[key] = int(value)
    else:
        params[key] = float(value)


def _inputs(args):
    if len(args) == 1 and args[0].endswith('.csv'):
        with open(args[0], newline='') as f:
            # relative paths are relative to the index's folder (schemas/index.md)
            for row in csv.DictReader(f):
                yield row['id'], os.path.join(os.path.dirname(args[0]), row['audio_path'])
    else:
        for a in args:
            yield os.path.splitext(os.path.basename(a))[0], a


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--set', action='append', default=[], metavar='audio.KEY=VALUE')
    ap.add_argument('--npy', metavar='DIR', help='write DIR/<id>.npy and DIR/mel_frames.csv')
    ap.add_argument('--stages', metavar='DIR', help='write DIR/<id>.{y,stftpow,mel,db}.npy')
    ap.add_argument('inputs', nargs='+', help='index.csv or audio files')
    a = ap.parse_args(argv)
    params = {}
    for s in a.set:
        _parse_set(s, params)
    for d in (a.npy, a.stages):
        if d:
            os.makedirs(d, exist_ok=True)
    frames = []
    bad = 0
    for cid, path in _inputs(a.inputs):
        st = {} if a.stages else None
        try:
            out, T = logmel(path, cid, params, st)
        except (LoadError, OSError, RuntimeError) as e:
            print('reference_mel.py: %s: %s' % (path, e), file=sys.stderr)
            bad += 1
            continue
        frames.append((cid, T))
        if a.npy:
            np.save(os.path.join(a.npy, cid + '.npy'), out)
        if st:
            for k, v in st.items():
                np.save(os.path.join(a.stages, '%s.%s.npy' % (cid, k)), v)
    if a.npy:
        with open(os.path.join(a.npy, 'mel_frames.csv'), 'w') as f:
            f.write('id,mel_frames\n')
            for cid, T in frames:
                f.write('%s,%d\n' % (cid, T))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
