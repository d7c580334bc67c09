import { expect } from 'chai';
import {
  carveValidation,
  checkClassCoverage,
  countsByClass,
  datasetDigest,
  type SourceDataset,
} from '../../pipeline/data/dataset.js';
import { syntheticDataset } from '../../pipeline/data/synthetic.js';

const options = {
  classes: [
    { label: 0, name: 'bicycle' },
    { label: 1, name: 'motorcycle' },
  ],
  trainPerClass: 40,
  testPerClass: 10,
  imageSize: 8,
  seed: 3,
};

describe('validation split carved from training data', () => {
  it('moves the configured fraction of each class from train to validation and leaves test alone', () => {
    // Prepare
    const source = syntheticDataset(options);
    // Act
    const staged = carveValidation(source, 0.1);
    // Assess
    expect(countsByClass(staged)).to.deep.equal({
      train: { bicycle: 36, motorcycle: 36 },
      validation: { bicycle: 4, motorcycle: 4 },
      test: { bicycle: 10, motorcycle: 10 },
    });
    const testNames = (d: { images: { split: string; name: string }[] }) =>
      d.images.filter((i) => i.split === 'test').map((i) => i.name);
    expect(testNames(staged)).to.deep.equal(testNames(source));
    const validation = staged.images.filter((i) => i.split === 'validation').map((i) => i.name);
    const sourceTrain = new Set(source.images.filter((i) => i.split === 'train').map((i) => i.name));
    for (const name of validation) expect(sourceTrain.has(name), name).to.equal(true);
  });

  it('is the same split whatever order the source lists its images in, and another seed gives another', () => {
    const source = syntheticDataset(options);
    const reversed: SourceDataset = { ...source, images: [...source.images].reverse() };
    const names = (d: ReturnType<typeof carveValidation>) =>
      d.images
        .filter((i) => i.split === 'validation')
        .map((i) => i.name)
        .sort();
    expect(names(carveValidation(reversed, 0.1))).to.deep.equal(names(carveValidation(source, 0.1)));
    expect(names(carveValidation(source, 0.1, 99))).to.not.deep.equal(names(carveValidation(source, 0.1)));
  });

  it('changes the dataset digest with the fraction, so a different validation split is a different dataset', () => {
    const source = syntheticDataset(options);
    expect(datasetDigest(carveValidation(source, 0.1))).to.not.equal(
      datasetDigest(carveValidation(source, 0.2)),
    );
  });
});

describe('class coverage of every split', () => {
  it('refuses a split missing a class, naming the split and the class', () => {
    // Prepare: drop every motorcycle test image
    const source = syntheticDataset(options);
    const withoutTestMotorcycles: SourceDataset = {
      ...source,
      images: source.images.filter((i) => !(i.split === 'test' && i.label === 1)),
    };
    // Act / Assess
    expect(() => checkClassCoverage(carveValidation(withoutTestMotorcycles, 0.1))).to.throw(
      /the test split has no image of motorcycle; every split needs every class/,
    );
  });

  it('refuses a class whose single training image leaves no validation image', () => {
    const source = syntheticDataset(options);
    let kept = 0;
    const oneMotorcycle: SourceDataset = {
      ...source,
      images: source.images.filter((i) => !(i.split === 'train' && i.label === 1) || kept++ === 0),
    };
    expect(() => checkClassCoverage(carveValidation(oneMotorcycle, 0.1))).to.throw(
      /the validation split has no image of motorcycle.*carved from train/,
    );
  });

  it('refuses a dataset of one class', () => {
    const source = syntheticDataset(options);
    const oneClass: SourceDataset = {
      ...source,
      classes: source.classes.slice(0, 1),
      images: source.images.filter((i) => i.label === 0),
    };
    expect(() => checkClassCoverage(carveValidation(oneClass, 0.1))).to.throw(
      /has 1 class \(bicycle\): a classifier needs at least two/,
    );
  });

  it('accepts a dataset with every class in every split', () => {
    expect(() => checkClassCoverage(carveValidation(syntheticDataset(options), 0.1))).to.not.throw();
  });
});
