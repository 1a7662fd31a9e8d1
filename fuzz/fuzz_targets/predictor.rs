//! The predictor over any configuration, memory size and sequence of dirty bitmaps: no page
//! is lost (after stop-and-copy every page is current), none is held back more than `K`
//! rounds in a row, only dirtied pages are held back; short buffers are refused.
#![no_main]

use arbitrary::Arbitrary;
use bda_core::{Predictor, PredictorConfig, PredictorError, PredictorRound, Share};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    history_rounds: u8,
    threshold_ppm: u32,
    max_deferrals: u8,
    pages: u16,
    rounds: Vec<Vec<u64>>,
    short_storage: bool,
}

fuzz_target!(|input: Input| {
    let config = PredictorConfig {
        history_rounds: input.history_rounds,
        threshold: Share::from_ppm(input.threshold_ppm % 1_000_001).unwrap(),
        max_consecutive_deferrals: input.max_deferrals,
    };
    let pages = u64::from(input.pages);
    let Ok(mut predictor) = Predictor::new(config, pages) else {
        assert!(!(1..=8).contains(&input.history_rounds) || input.max_deferrals > 15 || pages == 0);
        return;
    };
    let words = predictor.bitmap_words();
    let mut storage = vec![u64::MAX; predictor.storage_words()];
    if input.short_storage {
        let short = &mut storage[..predictor.storage_words() - 1];
        assert_eq!(
            predictor.init_storage(short),
            Err(PredictorError::StorageTooShort { needed: predictor.storage_words() })
        );
        return;
    }
    predictor.init_storage(&mut storage).unwrap();
    let page_count = usize::from(input.pages);
    // Versions at the source and the destination; round 1 sent everything.
    let mut source = vec![0_u32; page_count];
    let mut destination = vec![0_u32; page_count];
    let mut held = vec![0_u8; page_count];
    let mut send = vec![0_u64; words];
    let last = input.rounds.len();
    for (round, mut dirty) in input.rounds.into_iter().chain(std::iter::once(Vec::new())).enumerate() {
        dirty.resize(words, 0);
        let stop = round == last;
        for page in 0..page_count {
            if !stop && dirty[page / 64] >> (page % 64) & 1 == 1 {
                source[page] += 1;
            }
        }
        if stop {
            dirty.iter_mut().for_each(|w| *w = 0);
        }
        let kind = if stop { PredictorRound::StopAndCopy } else { PredictorRound::Live };
        let plan = predictor.plan_round(&mut storage, &dirty, &mut send, kind).unwrap();
        let mut sent = 0;
        for page in 0..page_count {
            let bit = send[page / 64] >> (page % 64) & 1 == 1;
            if bit {
                destination[page] = source[page];
                held[page] = 0;
                sent += 1;
            } else if destination[page] != source[page] {
                assert!(!stop, "stop-and-copy left page {page} behind");
                assert!(dirty[page / 64] >> (page % 64) & 1 == 1, "page {page} held without being dirtied");
                held[page] += 1;
                assert!(held[page] <= config.max_consecutive_deferrals);
            }
        }
        assert_eq!(plan.send.0, sent);
    }
    assert_eq!(source, destination);
});
