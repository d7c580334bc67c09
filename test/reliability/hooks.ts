import { printFigures } from './figures.js';

/** Root hooks: the reliability figures print once, after every test has run. */
export const mochaHooks = {
  afterAll(): void {
    printFigures();
  },
};
