// ES-module face of hash-wasm's UMD build (see README.md here): the UMD file, loaded as a module,
// finds neither `exports` nor `define` and sets globalThis.hashwasm.
import "./argon2.umd.min.js";

export const { argon2id } = globalThis.hashwasm;
