//! Property tests over random rotations in the four test zones: the on-call
//! answer agrees with the shift listing, unrestricted shifts tile time from
//! the start, handoffs strictly increase, and coverage gaps agree with
//! on-call answers.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

const ZONES: [Tz; 4] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];

/// 2025-12-01T00:00:00Z: starts fall in the two following years so that the
/// 2026 and 2027 DST changes are crossed.
const EPOCH: i64 = 1_764_547_200;

fn kind() -> impl Strategy<Value = RotationKind> {
    prop_oneof![
        Just(RotationKind::Daily),
        Just(RotationKind::Weekly),
        Just(RotationKind::Biweekly),
        Just(RotationKind::Custom),
    ]
}

/// Handoff times biased towards the DST-sensitive small hours.
fn handoff_time() -> impl Strategy<Value = NaiveTime> {
    prop_oneof![
        (
            0u32..4,
            prop_oneof![Just(0u32), Just(15), Just(30), Just(45)]
        ),
        (0u32..24, 0u32..60),
    ]
    .prop_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN))
}

fn restriction() -> impl Strategy<Value = Restriction> {
    (
        proptest::collection::vec(0u8..7, 1..4),
        handoff_time(),
        handoff_time(),
    )
        .prop_map(|(days, start, end)| Restriction { days, start, end })
}

fn rotation() -> impl Strategy<Value = (Tz, Rotation)> {
    (
        0usize..ZONES.len(),
        kind(),
        1usize..=5,
        0i64..(2 * 365 * 86_400),
        handoff_time(),
        60i64..(10 * 24 * 60),
        proptest::collection::vec(0u8..7, 0..3),
        proptest::collection::vec(restriction(), 0..3),
    )
        .prop_map(
            |(zone, kind, count, start, time, minutes, days, restrictions)| {
                let rotation = Rotation {
                    id: Uuid::from_u128(7),
                    name: "r".into(),
                    kind,
                    members: (0..count)
                        .map(|i| Uuid::from_u128(100 + i as u128))
                        .collect(),
                    start: DateTime::from_timestamp(EPOCH + start, 0).unwrap(),
                    shift_length: TimeDelta::minutes(minutes),
                    handoff_time: time,
                    handoff_days: days,
                    restrictions,
                    level: 1,
                };
                (ZONES[zone], rotation)
            },
        )
}

fn unrestricted() -> impl Strategy<Value = (Tz, Rotation)> {
    rotation().prop_map(|(zone, mut r)| {
        r.restrictions.clear();
        (zone, r)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn on_call_matches_the_shift_listing(
        (zone, r) in rotation(),
        offset in -2i64 * 86_400..(120 * 86_400),
    ) {
        let at = r.start + TimeDelta::seconds(offset);
        let shifts = rotation_shifts(&r, zone, at - TimeDelta::days(20), at + TimeDelta::days(1)).unwrap();
        let listed = shifts.iter().find(|s| s.start <= at && at < s.end).map(|s| s.user_id);
        prop_assert_eq!(r.on_call_at(zone, at), listed);
        let schedule = Schedule { time_zone: zone, rotations: vec![r], overrides: vec![] };
        prop_assert_eq!(schedule.on_call_at(at).primary(), listed);
        // Listed pieces never overlap and lie inside the range.
        prop_assert!(shifts.windows(2).all(|w| w[0].end <= w[1].start));
        prop_assert!(shifts.iter().all(|s| s.start < s.end));
    }

    #[test]
    fn unrestricted_shifts_tile_time_from_the_start(
        (zone, r) in unrestricted(),
        days in 1i64..90,
    ) {
        let to = r.start + TimeDelta::days(days);
        let shifts = rotation_shifts(&r, zone, r.start - TimeDelta::days(3), to).unwrap();
        prop_assert!(!shifts.is_empty());
        prop_assert_eq!(shifts[0].start, r.start);
        prop_assert_eq!(shifts.last().unwrap().end, to);
        for (i, s) in shifts.iter().enumerate() {
            prop_assert!(s.start < s.end);
            prop_assert_eq!(Some(s.user_id), r.member_for_shift(i as u64));
        }
        for w in shifts.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start);
        }
        // Shift boundaries after the start are exactly the handoffs.
        let handoffs = handoffs_between(&r, zone, r.start, to).unwrap();
        let boundaries: Vec<_> = shifts.iter().skip(1).map(|s| s.start).collect();
        prop_assert_eq!(handoffs, boundaries);
    }

    #[test]
    fn handoffs_strictly_increase_and_chain(
        (zone, r) in rotation(),
        days in 1i64..120,
    ) {
        let from = r.start - TimeDelta::days(1);
        let handoffs = handoffs_between(&r, zone, from, r.start + TimeDelta::days(days)).unwrap();
        prop_assert!(handoffs.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(handoffs.iter().all(|&h| h > r.start));
        let mut previous = from;
        for &h in &handoffs {
            prop_assert_eq!(next_handoff(&r, zone, previous), Some(h));
            previous = h;
        }
        // Daily, weekly and biweekly handoffs fall on the handoff time when
        // it exists; when skipped, on the instant the clock jumps past it.
        if r.kind != RotationKind::Custom {
            for &h in &handoffs {
                let local = h.with_timezone(&zone).time();
                let just_before = (h - TimeDelta::seconds(1)).with_timezone(&zone).time();
                prop_assert!(
                    local == r.handoff_time || (just_before < r.handoff_time && local > r.handoff_time),
                    "{} local {} handoff {}", h, local, r.handoff_time
                );
            }
        }
    }

    #[test]
    fn coverage_gaps_agree_with_on_call(
        (zone, r) in rotation(),
        probes in proptest::collection::vec(0i64..(30 * 86_400), 8),
    ) {
        let from = r.start - TimeDelta::days(1);
        let to = from + TimeDelta::days(30);
        let schedule = Schedule { time_zone: zone, rotations: vec![r], overrides: vec![] };
        let gaps = schedule.coverage_gaps(from, to).unwrap();
        prop_assert!(gaps.windows(2).all(|w| w[0].end < w[1].start));
        for p in probes {
            let at: DateTime<Utc> = from + TimeDelta::seconds(p);
            let in_gap = gaps.iter().any(|g| g.start <= at && at < g.end);
            prop_assert_eq!(in_gap, schedule.on_call_at(at).primary().is_none(), "at {}", at);
        }
    }
}
