//! Predictor properties: it loses no page, defers none more than `K` rounds in a row, defers
//! only pages that were dirtied, and its estimate is the share of the last `H` rounds.

use bda_core::{Predictor, PredictorConfig, PredictorRound, Share};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = PredictorConfig> {
    (1_u8..=8, prop_oneof![Just(0_u32), Just(500_000), Just(1_000_000), 0_u32..=1_000_000], 0_u8..=15).prop_map(
        |(history_rounds, ppm, max_consecutive_deferrals)| PredictorConfig {
            history_rounds,
            threshold: Share::from_ppm(ppm).unwrap(),
            max_consecutive_deferrals,
        },
    )
}

/// Each round: a set of pages the guest writes. A hot set written often plus random pages.
fn rounds(pages: usize) -> impl Strategy<Value = Vec<Vec<bool>>> {
    let hot = prop::collection::vec(any::<bool>(), pages);
    (hot, prop::collection::vec(prop::collection::vec((any::<bool>(), 0_u8..4), pages), 1..24)).prop_map(
        |(hot, rounds)| {
            rounds
                .into_iter()
                .map(|round| {
                    round
                        .iter()
                        .zip(&hot)
                        .map(|(&(coin, die), &h)| if h { die != 0 } else { coin && die == 0 })
                        .collect()
                })
                .collect()
        },
    )
}

fn bitmap(bits: &[bool]) -> Vec<u64> {
    let mut words = vec![0_u64; bits.len().div_ceil(64)];
    for (page, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
        words[page / 64] |= 1 << (page % 64);
    }
    words
}

fn bit(words: &[u64], page: usize) -> bool {
    words[page / 64] >> (page % 64) & 1 == 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn every_dirtied_page_arrives_and_none_waits_more_than_k_rounds(
        config in config(),
        (pages, writes) in (1_usize..200).prop_flat_map(|pages| (Just(pages), rounds(pages))),
        garbage in any::<u64>(),
    ) {
        let mut predictor = Predictor::new(config, pages as u64).unwrap();
        let mut storage = vec![garbage; predictor.storage_words()];
        predictor.init_storage(&mut storage).unwrap();
        // Versions: the source's and the destination's copy of each page. Round 1 sent all.
        let mut source = vec![0_u32; pages];
        let mut destination = vec![0_u32; pages];
        let mut consecutive = vec![0_u8; pages];
        let mut history: Vec<Vec<bool>> = Vec::new();
        // One word more than the bitmap needs: the predictor must leave it alone.
        let mut send = vec![!0_u64; pages.div_ceil(64) + 1];
        let last = writes.len() - 1;
        for (round, dirtied) in writes.iter().enumerate() {
            // The guest writes while the previous round runs; the bitmap is what it wrote.
            for (page, _) in dirtied.iter().enumerate().filter(|(_, d)| **d) {
                source[page] += 1;
            }
            history.push(dirtied.clone());
            let kind = if round == last { PredictorRound::StopAndCopy } else { PredictorRound::Live };
            let mut dirty = bitmap(dirtied);
            // Bits past the last page must be ignored.
            if pages % 64 != 0 {
                *dirty.last_mut().unwrap() |= !0 << (pages % 64);
            }
            let plan = predictor.plan_round(&mut storage, &dirty, &mut send, kind).unwrap();
            let mut sent = 0;
            let mut deferred = 0;
            for page in 0..pages {
                let needs = destination[page] != source[page];
                if bit(&send, page) {
                    prop_assert!(needs, "page {page} sent though current");
                    destination[page] = source[page];
                    consecutive[page] = 0;
                    sent += 1;
                } else if needs {
                    // Held back: only a page dirtied in the last round (a pending page that
                    // was left alone goes now), never in stop-and-copy, at most K in a row.
                    prop_assert!(dirtied[page], "page {page} held without cause");
                    prop_assert!(kind == PredictorRound::Live);
                    consecutive[page] += 1;
                    prop_assert!(consecutive[page] <= config.max_consecutive_deferrals);
                    // The estimate: dirty in at least threshold * H of the last H rounds.
                    let h = usize::from(config.history_rounds);
                    let dirty_rounds = history.iter().rev().take(h).filter(|r| r[page]).count() as u64;
                    let share = Share::from_ratio(dirty_rounds, u64::from(config.history_rounds)).unwrap();
                    prop_assert!(share >= config.threshold);
                    deferred += 1;
                }
            }
            prop_assert_eq!(send.last(), Some(&!0), "a word past the bitmap was written");
            prop_assert_eq!((plan.send.0, plan.deferred.0), (sent, deferred));
        }
        prop_assert_eq!(source, destination, "stop-and-copy left pages behind");
    }

    /// A page dirtied in every round whose estimate meets the threshold is deferred exactly
    /// `K` rounds, then sent, in a cycle.
    #[test]
    fn a_page_written_every_round_cycles_k_deferrals_then_a_send(
        k in 1_u8..=15,
        history_rounds in 1_u8..=8,
        rounds in 1_usize..60,
    ) {
        let config = PredictorConfig { history_rounds, threshold: Share::ZERO, max_consecutive_deferrals: k };
        let mut predictor = Predictor::new(config, 1).unwrap();
        let mut storage = vec![0; predictor.storage_words()];
        let mut send = [0_u64];
        for round in 0..rounds {
            predictor.plan_round(&mut storage, &[1], &mut send, PredictorRound::Live).unwrap();
            let expect_send = round % (usize::from(k) + 1) == usize::from(k);
            prop_assert_eq!(send[0] == 1, expect_send, "round {}", round);
        }
    }
}
