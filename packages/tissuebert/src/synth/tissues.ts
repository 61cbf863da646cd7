/**
 * The 22 synthetic tissues and their hierarchy. Names follow the UXM atlas (Loyfer et al. 2023)
 * cell types; the groups decide how close tissues' methylation profiles are (blood cell types
 * share most of their profile, as they do in real atlases).
 */
export interface TissueGroup {
  name: string;
  tissues: string[];
}

export const SYNTH_TISSUE_GROUPS: TissueGroup[] = [
  {
    name: 'blood',
    tissues: ['Blood-Granul', 'Blood-Mono+Macro', 'Blood-B', 'Blood-T', 'Blood-NK', 'Eryth-prog'],
  },
  {
    name: 'gi-epithelium',
    tissues: ['Colon-Ep', 'Gastric-Ep', 'Small-Int-Ep', 'Pancreas-Acinar', 'Pancreas-Duct'],
  },
  { name: 'solid-organ', tissues: ['Liver-Hep', 'Kidney-Ep', 'Lung-Ep-Alveo', 'Thyroid-Ep', 'Prostate-Ep'] },
  { name: 'mesenchymal', tissues: ['Adipocytes', 'Endothel', 'Heart-Cardio', 'Skeletal-Musc'] },
  { name: 'neural', tissues: ['Neuron', 'Oligodend'] },
];

export const SYNTH_TISSUES: string[] = SYNTH_TISSUE_GROUPS.flatMap((g) => g.tissues);

/** Tissue given ~27% of the files (in the UXM/Loyfer atlas blood samples dominate the same way). */
export const SYNTH_MAJOR_TISSUE = 'Blood-Granul';

/** The blood tissues (for blood-dominated cfDNA-like mixtures). */
export const SYNTH_BLOOD_TISSUES: string[] = SYNTH_TISSUE_GROUPS[0].tissues;
