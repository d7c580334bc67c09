/** The one function of jstat (no bundled types) that the report uses. */
declare module 'jstat' {
  const jstat: { jStat: { chisquare: { cdf(x: number, degreesOfFreedom: number): number } } };
  export default jstat;
}
