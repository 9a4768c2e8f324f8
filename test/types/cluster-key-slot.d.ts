// cluster-key-slot (ioredis' own dependency) ships no types.
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    /** The one slot of all `keys`, or -1 when they span several. */
    function generateMulti(keys: Array<string | Buffer>): number;
  }
  export = calculateSlot;
}
