// Device detection from the Manufacturer (0008,0070) and Manufacturer's Model Name (0008,1090) tags.

export type OctVendor = 'heidelberg' | 'zeiss' | 'topcon' | 'optovue' | 'nidek' | 'canon' | 'unknown';

export interface DeviceInfo {
  vendor: OctVendor;
  /** A stable id such as 'zeiss-cirrus' or 'topcon-maestro'; '<vendor>' when the model is unknown. */
  device: string;
}

const MODELS: Record<Exclude<OctVendor, 'unknown'>, [RegExp, string][]> = {
  heidelberg: [[/spectralis/i, 'spectralis']],
  zeiss: [
    [/cirrus/i, 'cirrus'],
    [/plex/i, 'plex-elite'],
    [/stratus/i, 'stratus'],
  ],
  topcon: [
    [/triton/i, 'triton'],
    [/maestro/i, 'maestro'],
    [/3d\s*oct[-\s]*(1|2000)|3d oct/i, '3d-oct'],
  ],
  optovue: [
    [/avanti/i, 'avanti'],
    [/solix/i, 'solix'],
    [/ivue/i, 'ivue'],
    [/rtvue/i, 'rtvue'],
  ],
  nidek: [[/rs-?3000|retiscan/i, 'rs-3000']],
  canon: [[/hs-?100|xephilio/i, 'xephilio']],
};

/** Vendor and device from the DICOM tags (case-insensitive substring rules; unknown when nothing matches). */
export function detectDevice(manufacturer: string | undefined, modelName: string | undefined): DeviceInfo {
  const m = `${manufacturer ?? ''}`.trim();
  const model = `${modelName ?? ''}`.trim();
  let vendor: OctVendor = 'unknown';
  if (/heidelberg/i.test(m) || /spectralis/i.test(model)) vendor = 'heidelberg';
  else if (/zeiss|czm/i.test(m) || /cirrus|plex/i.test(model)) vendor = 'zeiss';
  else if (/topcon/i.test(m) || /triton|maestro/i.test(model)) vendor = 'topcon';
  else if (/optovue|visionix/i.test(m) || /avanti|rtvue|solix/i.test(model)) vendor = 'optovue';
  else if (/nidek/i.test(m)) vendor = 'nidek';
  else if (/canon/i.test(m)) vendor = 'canon';
  if (vendor === 'unknown') return { vendor, device: 'unknown' };
  for (const [re, id] of MODELS[vendor]) if (re.test(model)) return { vendor, device: `${vendor}-${id}` };
  return { vendor, device: vendor };
}
