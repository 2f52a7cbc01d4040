//! Fuzzes `nanotel_fuzz::inputs::environment`; see that function for how the input bytes are used.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanotel_fuzz::inputs::environment(data));
