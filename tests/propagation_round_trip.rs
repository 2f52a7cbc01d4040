//! extract(inject(x)) == x over generated span contexts, trace states and baggages (fixed seeds,
//! so a failure reproduces), through both carrier types, with W3C, B3 (both encodings) and
//! composite propagators.

use std::collections::HashMap;

use http::HeaderMap;
use nanotel::propagation::{
    B3Propagator, Baggage, BaggagePropagator, CompositePropagator, Propagator, TraceContextPropagator,
};
use nanotel::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 2000;

const KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-*/";
const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";

fn pick(rng: &mut StdRng, chars: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(chars[rng.random_range(0..chars.len())])).collect()
}

/// A valid key: simple, or `tenant@system`, of any allowed length.
fn trace_state_key(rng: &mut StdRng) -> String {
    let lower_or_digit = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let short = |rng: &mut StdRng, max: usize| if rng.random_bool(0.9) { rng.random_range(0..8) } else { max };
    if rng.random_bool(0.7) {
        let rest = short(rng, 255);
        pick(rng, lower_or_digit, 1) + &pick(rng, KEY_CHARS, rest)
    } else {
        let (tenant, system) = (short(rng, 240), short(rng, 13));
        format!(
            "{}{}@{}{}",
            pick(rng, lower_or_digit, 1),
            pick(rng, KEY_CHARS, tenant),
            pick(rng, b"abcdefghijklmnopqrstuvwxyz", 1),
            pick(rng, KEY_CHARS, system)
        )
    }
}

/// A valid value: 1 to 256 of 0x20-0x7E without `,` and `=`, not ending in a space.
fn trace_state_value(rng: &mut StdRng) -> String {
    let chars: Vec<u8> = (0x20u8..=0x7e).filter(|b| *b != b',' && *b != b'=').collect();
    let len = if rng.random_bool(0.9) { rng.random_range(0..10) } else { 255 };
    pick(rng, &chars, len) + &pick(rng, &chars[1..], 1)
}

fn trace_state(rng: &mut StdRng) -> TraceState {
    let members = if rng.random_bool(0.3) { 0 } else { rng.random_range(1..=40) };
    (0..members).fold(TraceState::default(), |state, _| {
        state.insert(&trace_state_key(rng), &trace_state_value(rng)).expect("generated members are valid")
    })
}

fn span_context(rng: &mut StdRng) -> SpanContext {
    let trace_id = TraceId::from_bytes(rng.random::<u128>().max(1).to_be_bytes());
    let span_id = SpanId::from_bytes(rng.random::<u64>().max(1).to_be_bytes());
    // The flags a receiver keeps: sampled and random.
    let flags = TraceFlags::new(rng.random_range(0..4));
    SpanContext::new(trace_id, span_id, flags, true, trace_state(rng))
}

/// Any text, weighted towards what needs encoding: spaces, `%`, separators, non-ASCII.
fn baggage_text(rng: &mut StdRng) -> String {
    let len = if rng.random_bool(0.95) { rng.random_range(0..12) } else { rng.random_range(0..2000) };
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0 => ' ',
            1 => '%',
            2 => [',', ';', '=', '"', '\\'][rng.random_range(0..5)],
            3 => char::from_u32(rng.random_range(0x80..0x11_0000)).unwrap_or('\u{FFFD}'),
            _ => char::from(rng.random_range(0x21u8..0x7f)),
        })
        .collect()
}

fn baggage_metadata(rng: &mut StdRng) -> String {
    let properties = rng.random_range(0..3);
    let value_chars: Vec<u8> = (0x21u8..0x7f).filter(|b| !b"\",;\\".contains(b)).collect();
    (0..properties)
        .map(|_| {
            let (key_len, value_len) = (rng.random_range(1..6), rng.random_range(0..6));
            let key = pick(rng, TOKEN_CHARS, key_len);
            if rng.random_bool(0.5) {
                key
            } else {
                format!("{key}={}", pick(rng, &value_chars, value_len))
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn baggage(rng: &mut StdRng) -> Baggage {
    let mut baggage = Baggage::new();
    for _ in 0..rng.random_range(0..80) {
        let name_len = rng.random_range(1..10);
        let name = pick(rng, TOKEN_CHARS, name_len);
        let (value, metadata) = (baggage_text(rng), baggage_metadata(rng));
        // Beyond a limit the insert is refused, which is part of what is generated.
        let _ = baggage.insert_with_metadata(&name, &value, &metadata);
    }
    baggage
}

#[test]
fn span_contexts_survive_both_carriers() {
    let mut rng = StdRng::seed_from_u64(0x7ace);
    let mut with_state = 0;
    for _ in 0..CASES {
        let context = span_context(&mut rng);
        with_state += usize::from(!context.trace_state().is_empty());

        let mut map = HashMap::new();
        TraceContextPropagator.inject(&context, &mut map);
        assert_eq!(TraceContextPropagator.extract(&map).as_ref(), Some(&context), "{map:?}");

        let mut headers = HeaderMap::new();
        TraceContextPropagator.inject(&context, &mut headers);
        assert_eq!(TraceContextPropagator.extract(&headers).as_ref(), Some(&context), "{headers:?}");
    }
    assert!(with_state > CASES / 2, "the generator must exercise trace states");
}

#[test]
fn span_contexts_survive_b3_in_both_encodings_and_every_composite() {
    let mut rng = StdRng::seed_from_u64(0xb3);
    for _ in 0..CASES {
        let context = span_context(&mut rng);
        // What B3 carries: the ids and the sampled bit (no trace state, no random flag).
        let flags = TraceFlags::NOT_SAMPLED.with_sampled(context.is_sampled());
        let b3 = SpanContext::new(context.trace_id(), context.span_id(), flags, true, TraceState::default());
        for propagator in [B3Propagator::single(), B3Propagator::multi()] {
            let mut map = HashMap::new();
            propagator.inject(&context, &mut map);
            assert_eq!(B3Propagator::default().extract(&map).as_ref(), Some(&b3), "{map:?}");
            let mut headers = HeaderMap::new();
            propagator.inject(&context, &mut headers);
            assert_eq!(B3Propagator::default().extract(&headers).as_ref(), Some(&b3), "{headers:?}");
        }
        // Every list of trace propagators: the last one's view of the context comes back.
        for list in [&[Propagator::B3, Propagator::TraceContext][..], &[Propagator::TraceContext, Propagator::B3Multi]]
        {
            let composite = CompositePropagator::new(list.iter().copied());
            let mut headers = HeaderMap::new();
            composite.inject(&context, &mut headers);
            let expected = if list[1] == Propagator::TraceContext { &context } else { &b3 };
            assert_eq!(composite.extract(&headers).as_ref(), Some(expected));
        }
    }
}

#[test]
fn trace_states_survive_their_header() {
    let mut rng = StdRng::seed_from_u64(0x57a7e);
    let mut full = 0;
    for _ in 0..CASES {
        let state = trace_state(&mut rng);
        assert!(state.len() <= TraceState::MAX_MEMBERS);
        full += usize::from(state.len() == TraceState::MAX_MEMBERS);
        let header = state.to_header();
        assert_eq!(TraceState::parse(&header), Ok(state), "{header:?}");
    }
    assert!(full > 0, "the generator must reach the member limit");
}

#[test]
fn baggages_survive_both_carriers() {
    let mut rng = StdRng::seed_from_u64(0xba66);
    let (mut at_entry_limit, mut encoded) = (0, 0);
    for _ in 0..CASES / 4 {
        let baggage = baggage(&mut rng);
        let header = baggage.to_header();
        assert!(header.len() <= Baggage::MAX_HEADER_BYTES);
        at_entry_limit += usize::from(baggage.len() == Baggage::MAX_ENTRIES);
        encoded += usize::from(header.contains('%'));
        assert_eq!(Baggage::parse(&header), baggage, "{header:?}");

        let mut map = HashMap::new();
        BaggagePropagator.inject(&baggage, &mut map);
        assert_eq!(BaggagePropagator.extract(&map), baggage);

        let mut headers = HeaderMap::new();
        BaggagePropagator.inject(&baggage, &mut headers);
        assert_eq!(BaggagePropagator.extract(&headers), baggage);
    }
    assert!(at_entry_limit > 0 && encoded > 0, "the generator must reach the limits and need encoding");
}
