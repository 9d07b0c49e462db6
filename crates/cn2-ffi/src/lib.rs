//! The C API of cn2-core (SPEC §9). The surface arrives with the FFI work;
//! until then this library exports nothing.
