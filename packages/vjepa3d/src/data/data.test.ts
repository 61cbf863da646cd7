import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DicomError, readDicom, readDicomVolume } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { SYNTH_DEVICES, synthesize, synthOctVolume } from '../synth/oct';
import { detectDevice } from './device';
import { manifestToCsv, scanManifest, splitManifest } from './manifest';
import { OCT_SOP_CLASS, readOctVolume } from './read';
import { isPlainJpeg2000, scrambleCzmFrame, unscrambleCzmFrame, wrapCodestreamAsJp2 } from './zeiss';

const shared = resolve(__dirname, '../../../../../shared/data');
const emriDir = join(shared, 'pydicom-data');
const hasShared = existsSync(join(emriDir, 'emri_small_jpeg_2k_lossless.dcm'));
const dir = mkdtempSync(join(tmpdir(), 'vjepa3d-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('device detection', () => {
  it('maps manufacturer/model tags to devices', () => {
    expect(detectDevice('Heidelberg Engineering', 'Spectralis').device).toBe('heidelberg-spectralis');
    expect(detectDevice('Carl Zeiss Meditec', 'Cirrus HD-OCT 5000').device).toBe('zeiss-cirrus');
    expect(detectDevice('TOPCON', 'DRI OCT Triton').device).toBe('topcon-triton');
    expect(detectDevice('Topcon Healthcare', 'Maestro2').device).toBe('topcon-maestro');
    expect(detectDevice('Optovue', 'RTVue XR Avanti').device).toBe('optovue-avanti');
    expect(detectDevice('ACME', 'X').vendor).toBe('unknown');
    expect(detectDevice(undefined, undefined).device).toBe('unknown');
  });
});

describe('synthetic OCT, manifest and reader', () => {
  it('writes multi-frame OCT DICOMs that scan and read back exactly', async () => {
    const records = synthesize(dir, { seed: 3, patients: 6, scale: 0.25, bothEyes: 0.5 });
    expect(records.length).toBeGreaterThanOrEqual(6);
    writeFileSync(join(dir, 'broken.dcm'), 'not a dicom file at all');
    const m = await scanManifest(dir);
    expect(m.rows.length).toBe(records.length);
    expect(m.rejected).toHaveLength(1);
    expect(m.rejected[0]?.path).toBe('broken.dcm');
    expect(m.rejected[0]?.error).toMatch(/broken\.dcm/);
    const devices = new Set(m.rows.map((r) => r.device));
    expect(devices).toEqual(new Set(SYNTH_DEVICES.map((d) => d.id)));
    for (const row of m.rows) {
      const rec = records.find((r) => r.path === row.path);
      expect(rec?.device).toBe(row.device);
      expect(row.isOct).toBe(true);
      expect(row.sopClassUid).toBe(OCT_SOP_CLASS);
      const dev = SYNTH_DEVICES.find((d) => d.id === row.device)!;
      expect([row.frames, row.rows, row.columns]).toEqual(
        dev.shape.map((n) => Math.max(4, Math.round(n * 0.25))),
      );
      expect(row.dy * row.rows).toBeCloseTo(dev.extentMm[1], 6);
      expect(row.dz * row.frames).toBeCloseTo(dev.extentMm[0], 6);
    }
    // Pixel values read back exactly (the generator is deterministic given the forked generator).
    const first = records[0]!;
    const vol = await readOctVolume(join(dir, first.path));
    const dev = SYNTH_DEVICES.find((d) => d.id === first.device)!;
    expect(vol.shape).toEqual(dev.shape.map((n) => Math.max(4, Math.round(n * 0.25))));
    expect(vol.meta.manufacturer).toBe(dev.manufacturer);
    const again = synthOctVolume(
      { device: dev, label: first.label, scale: 0.25, laterality: first.laterality },
      new Generator(0),
    );
    expect(again.shape).toEqual(vol.shape);
    // Layered structure: mean intensity varies strongly with depth (bands), little across columns.
    const [F, R, C] = vol.shape;
    const rowMeans = Array.from({ length: R }, (_, r) => {
      let s = 0;
      for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) s += vol.data[(f * R + r) * C + c]!;
      return s / (F * C);
    });
    expect(Math.max(...rowMeans)).toBeGreaterThan(3 * (Math.min(...rowMeans) + 1));
    // CSV and split: patients never cross splits.
    const split = splitManifest(m.rows, { seed: 1, ratios: { train: 0.5, val: 0.5 } });
    const byPatient = new Map<string, Set<string>>();
    for (const r of split)
      byPatient.set(r.patientId, (byPatient.get(r.patientId) ?? new Set()).add(r.split!));
    for (const s of byPatient.values()) expect(s.size).toBe(1);
    expect(splitManifest(m.rows, { seed: 1, ratios: { train: 0.5, val: 0.5 } })).toEqual(split);
    const csv = manifestToCsv(split);
    expect(csv.split('\n')[0]).toMatch(/^path,patientId,laterality,device,/);
    expect(csv.trim().split('\n')).toHaveLength(split.length + 1);
  });

  it('plants pathology as structure: fluid and drusen raise the retina over the same eye', () => {
    const dev = SYNTH_DEVICES[0]!;
    const draw = (label: 'normal' | 'fluid' | 'drusen') =>
      synthOctVolume({ device: dev, label, scale: 1, laterality: 'R' }, new Generator(11));
    // Inner retinal surface per A-scan: the first row brighter than 30 % of full scale.
    const surface = (v: ReturnType<typeof draw>) => {
      const [F, R, C] = v.shape;
      const t = 0.3 * (2 ** dev.bitsStored - 1);
      const out: number[] = [];
      for (let f = 0; f < F; f++)
        for (let c = 0; c < C; c++) {
          let r = 0;
          while (r < R - 1 && v.pixels[(f * R + r) * C + c]! < t) r++;
          out.push(r);
        }
      return out;
    };
    const normal = surface(draw('normal'));
    for (const label of ['fluid', 'drusen'] as const) {
      const s = surface(draw(label));
      const rise = normal.map((n, i) => n - s[i]!);
      // Same eye (the geometry is drawn before the pathology): the lesion only lifts the surface,
      // by up to its height (0.06–0.1 of the depth = 4–6 of 62 rows), and only over part of it.
      expect(Math.max(...rise)).toBeGreaterThanOrEqual(3);
      expect(Math.min(...rise)).toBeGreaterThanOrEqual(-1);
      expect(rise.filter((x) => x >= 2).length).toBeLessThan(rise.length / 2);
    }
  });

  it('names the file when a volume cannot be read', async () => {
    await expect(readOctVolume(join(dir, 'broken.dcm'))).rejects.toThrow(/broken\.dcm/);
    await expect(readOctVolume(join(dir, 'missing.dcm'))).rejects.toBeInstanceOf(DicomError);
  });
});

describe('Zeiss CZM unscrambling', () => {
  it('inverts the scrambling exactly for random JP2 payloads', () => {
    const rng = new Generator(5);
    for (const n of [2200, 4097, 10_000]) {
      const body = Uint8Array.from({ length: n }, () => rng.int(256));
      const jp2 = wrapCodestreamAsJp2(body, { rows: 8, columns: 8, bitsStored: 8 });
      const scrambled = scrambleCzmFrame(jp2);
      expect(isPlainJpeg2000(scrambled)).toBe(false);
      expect(Array.from(unscrambleCzmFrame(scrambled))).toEqual(Array.from(jp2));
    }
    expect(() => unscrambleCzmFrame(new Uint8Array(500), 'x.dcm frame 0')).toThrow(
      /x\.dcm frame 0.*too short/,
    );
    expect(() => unscrambleCzmFrame(new Uint8Array(5000), 'y.dcm')).toThrow(/no JP2 signature/);
  });

  it.skipIf(!hasShared)(
    'decodes scrambled JP2-wrapped frames of a real JPEG 2000 volume through the DICOM reader',
    async () => {
      const j2k = join(emriDir, 'emri_small_jpeg_2k_lossless.dcm');
      const reference = await readDicomVolume(join(emriDir, 'emri_small.dcm'));
      const img = await readDicom(j2k);
      const info = { rows: img.meta.rows, columns: img.meta.columns, bitsStored: img.meta.bitsStored };
      let calls = 0;
      const vol = await readDicomVolume(j2k, {
        encapsulatedFrameFilter: (encoded) => {
          calls++;
          // What a CZM file holds: a JP2 file, scrambled. The filter must give back a decodable frame.
          return unscrambleCzmFrame(scrambleCzmFrame(wrapCodestreamAsJp2(encoded, info)));
        },
      });
      expect(calls).toBe(img.meta.numberOfFrames);
      expect(vol.shape).toEqual(reference.shape);
      expect(Array.from(vol.data)).toEqual(Array.from(reference.data));
      // Without unscrambling the same bytes do not decode: the reader names the file.
      await expect(
        readDicomVolume(j2k, {
          encapsulatedFrameFilter: (e) => scrambleCzmFrame(wrapCodestreamAsJp2(e, info)),
        }),
      ).rejects.toThrow(/emri_small_jpeg_2k_lossless\.dcm/);
    },
  );

  it.skipIf(!hasShared)('scans and reads the real multi-frame DICOMs in shared/data', async () => {
    const m = await scanManifest(emriDir, { volumesOnly: true });
    const names = m.rows.map((r) => r.path);
    expect(names).toContain('emri_small_jpeg_2k_lossless.dcm');
    expect(names).toContain('emri_small_RLE.dcm');
    const row = m.rows.find((r) => r.path === 'emri_small.dcm')!;
    expect([row.frames, row.rows, row.columns]).toEqual([10, 64, 64]);
    expect(row.isOct).toBe(false);
    expect(m.rejected.some((r) => r.path === 'RG3_J2KR.dcm' && /single frame/.test(r.error))).toBe(true);
    const a = await readOctVolume(join(emriDir, 'emri_small_jpeg_2k_lossless.dcm'));
    const b = await readOctVolume(join(emriDir, 'emri_small.dcm'));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    await expect(readOctVolume(join(emriDir, 'emri_small.dcm'), { allowNonOct: false })).rejects.toThrow(
      /not Ophthalmic/,
    );
    await expect(readOctVolume(join(emriDir, 'emri_small_jpeg_2k_lossless_too_short.dcm'))).rejects.toThrow(
      /too_short\.dcm/,
    );
  });
});
