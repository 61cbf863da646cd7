/** HDF5 problems: not an HDF5 file, missing dataset/group, wrong shape or dtype, limits. */
export class Hdf5Error extends Error {
  readonly meddl = true;
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'Hdf5Error';
  }
}
