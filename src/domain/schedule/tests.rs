//! Example-based tests: DST behaviour in America/New_York, Europe/London,
//! Australia/Lord_Howe and Asia/Kolkata across 2026 and 2027, cadence
//! counting, restrictions, overrides, paging fallback, gaps, handoffs,
//! validation and range limits.
//!
//! Over 600 lines on purpose: one file of worked examples, each a few lines, read
//! together as the schedule maths' specification.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::America::New_York;
use chrono_tz::Asia::Kolkata;
use chrono_tz::Australia::Lord_Howe;
use chrono_tz::Europe::London;
use chrono_tz::Tz;
use uuid::Uuid;

use super::local_time::{resolve, transitions_between};
use super::*;

const A: Uuid = Uuid::from_u128(0xA);
const B: Uuid = Uuid::from_u128(0xB);
const C: Uuid = Uuid::from_u128(0xC);
const X: Uuid = Uuid::from_u128(0x10);
const Y: Uuid = Uuid::from_u128(0x11);

/// Instant of a local wall-clock time (first occurrence if repeated).
fn wall(zone: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    zone.with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn hours(h: f64) -> TimeDelta {
    TimeDelta::seconds((h * 3600.0) as i64)
}

fn rotation(
    kind: RotationKind,
    members: &[Uuid],
    start: DateTime<Utc>,
    handoff: NaiveTime,
) -> Rotation {
    Rotation {
        id: Uuid::from_u128(0x1000),
        name: "primary".into(),
        kind,
        members: members.to_vec(),
        start,
        shift_length: TimeDelta::zero(),
        handoff_time: handoff,
        handoff_days: Vec::new(),
        restrictions: Vec::new(),
        level: 1,
    }
}

fn schedule(zone: Tz, rotations: Vec<Rotation>, overrides: Vec<Override>) -> Schedule {
    Schedule {
        time_zone: zone,
        rotations,
        overrides,
    }
}

fn over(
    id: u128,
    kind: OverrideKind,
    user: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    created: DateTime<Utc>,
) -> Override {
    Override {
        id: Uuid::from_u128(id),
        kind,
        user_id: user,
        start,
        end,
        level: 1,
        reason: "swap".into(),
        author: "tester".into(),
        created_at: created,
    }
}

/// Local dates in `year` on which the zone's offset changes, found by
/// comparing the offset at local noon with the previous day's.
fn offset_change_dates(zone: Tz, year: i32) -> Vec<NaiveDate> {
    let noon = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_time(hm(12, 0)))
            .single()
            .unwrap()
            .offset()
            .fix()
    };
    let mut out = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    while d.year() == year {
        if noon(d) != noon(d.pred_opt().unwrap()) {
            out.push(d);
        }
        d = d.succ_opt().unwrap();
    }
    out
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// (zone, DST change date, hours of the daily 09:00 shift that spans it).
fn dst_days() -> Vec<(Tz, NaiveDate, f64)> {
    vec![
        (New_York, date(2026, 3, 8), 23.0),
        (New_York, date(2026, 11, 1), 25.0),
        (New_York, date(2027, 3, 14), 23.0),
        (New_York, date(2027, 11, 7), 25.0),
        (London, date(2026, 3, 29), 23.0),
        (London, date(2026, 10, 25), 25.0),
        (London, date(2027, 3, 28), 23.0),
        (London, date(2027, 10, 31), 25.0),
        (Lord_Howe, date(2026, 4, 5), 24.5),
        (Lord_Howe, date(2026, 10, 4), 23.5),
        (Lord_Howe, date(2027, 4, 4), 24.5),
        (Lord_Howe, date(2027, 10, 3), 23.5),
    ]
}

#[test]
fn dst_dates_match_chrono_tz() {
    for zone in [New_York, London, Lord_Howe, Kolkata] {
        let expected: Vec<NaiveDate> = dst_days()
            .into_iter()
            .filter(|(z, _, _)| *z == zone)
            .map(|(_, d, _)| d)
            .collect();
        let mut found = offset_change_dates(zone, 2026);
        found.extend(offset_change_dates(zone, 2027));
        assert_eq!(found, expected, "{zone}");
    }
}

#[test]
fn transitions_are_found_exactly() {
    let found = transitions_between(
        New_York,
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    );
    assert_eq!(
        found,
        vec![utc("2026-03-08T07:00:00Z"), utc("2026-11-01T06:00:00Z")]
    );
    let found = transitions_between(
        Lord_Howe,
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    );
    // 02:00 LHDT (+11) → 01:30; 02:00 LHST (+10:30) → 02:30.
    assert_eq!(
        found,
        vec![utc("2026-04-04T15:00:00Z"), utc("2026-10-03T15:30:00Z")]
    );
    assert!(
        transitions_between(
            Kolkata,
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z")
        )
        .is_empty()
    );
}

#[test]
fn daily_shift_on_a_dst_day_is_longer_or_shorter() {
    for (zone, day, expected) in dst_days() {
        let r = rotation(
            RotationKind::Daily,
            &[A, B, C],
            utc("2025-12-01T00:00:00Z"),
            hm(9, 0),
        );
        let from = wall(zone, day.year(), day.month(), day.day(), 0, 0) - TimeDelta::days(3);
        let shifts = rotation_shifts(&r, zone, from, from + TimeDelta::days(6)).unwrap();
        let before = day.pred_opt().unwrap();
        let spanning_start = wall(zone, before.year(), before.month(), before.day(), 9, 0);
        let spanning = shifts.iter().find(|s| s.start == spanning_start).unwrap();
        assert_eq!(
            spanning.end - spanning.start,
            hours(expected),
            "{zone} {day}"
        );
        assert_eq!(
            spanning.end,
            wall(zone, day.year(), day.month(), day.day(), 9, 0)
        );
        // Every other whole shift in the window lasts 24 hours.
        for s in &shifts[1..shifts.len() - 1] {
            if s.start != spanning_start {
                assert_eq!(s.end - s.start, TimeDelta::hours(24), "{zone} {day} {s:?}");
            }
        }
    }
}

#[test]
fn kolkata_daily_shifts_are_always_24_hours() {
    let r = rotation(
        RotationKind::Daily,
        &[A, B],
        utc("2025-12-31T18:30:00Z"),
        hm(0, 0),
    );
    let shifts = rotation_shifts(
        &r,
        Kolkata,
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(shifts.len(), 366);
    for s in &shifts[1..shifts.len() - 1] {
        assert_eq!(s.end - s.start, TimeDelta::hours(24));
        assert_eq!(s.start.with_timezone(&Kolkata).time(), hm(0, 0));
    }
}

#[test]
fn nonexistent_handoff_time_moves_to_first_valid_instant_after() {
    let cases = [
        (
            New_York,
            date(2026, 3, 8),
            hm(2, 30),
            utc("2026-03-08T07:00:00Z"),
            hm(3, 0),
        ),
        (
            New_York,
            date(2027, 3, 14),
            hm(2, 30),
            utc("2027-03-14T07:00:00Z"),
            hm(3, 0),
        ),
        (
            London,
            date(2026, 3, 29),
            hm(1, 30),
            utc("2026-03-29T01:00:00Z"),
            hm(2, 0),
        ),
        (
            London,
            date(2027, 3, 28),
            hm(1, 30),
            utc("2027-03-28T01:00:00Z"),
            hm(2, 0),
        ),
        (
            Lord_Howe,
            date(2026, 10, 4),
            hm(2, 15),
            utc("2026-10-03T15:30:00Z"),
            hm(2, 30),
        ),
        (
            Lord_Howe,
            date(2027, 10, 3),
            hm(2, 15),
            utc("2027-10-02T15:30:00Z"),
            hm(2, 30),
        ),
    ];
    for (zone, day, time, expected, expected_local) in cases {
        assert_eq!(resolve(zone, day.and_time(time)), Some(expected));
        let r = rotation(
            RotationKind::Daily,
            &[A, B],
            utc("2026-01-01T00:00:00Z"),
            time,
        );
        let before = expected - TimeDelta::hours(12);
        let next = next_handoff(&r, zone, before).unwrap();
        assert_eq!(next, expected, "{zone} {day}");
        assert_eq!(next.with_timezone(&zone).time(), expected_local);
        // The member changes exactly there.
        let outgoing = r
            .on_call_at(zone, expected - TimeDelta::seconds(1))
            .unwrap();
        let incoming = r.on_call_at(zone, expected).unwrap();
        assert_ne!(outgoing, incoming);
        // And the next day's handoff is back at the usual wall-clock time.
        let after = next_handoff(&r, zone, expected).unwrap();
        assert_eq!(after.with_timezone(&zone).time(), time);
    }
}

#[test]
fn doubled_handoff_time_uses_first_occurrence() {
    let cases = [
        (
            New_York,
            date(2026, 11, 1),
            hm(1, 30),
            utc("2026-11-01T05:30:00Z"),
            25.0,
        ),
        (
            New_York,
            date(2027, 11, 7),
            hm(1, 30),
            utc("2027-11-07T05:30:00Z"),
            25.0,
        ),
        (
            London,
            date(2026, 10, 25),
            hm(1, 30),
            utc("2026-10-25T00:30:00Z"),
            25.0,
        ),
        (
            London,
            date(2027, 10, 31),
            hm(1, 30),
            utc("2027-10-31T00:30:00Z"),
            25.0,
        ),
        (
            Lord_Howe,
            date(2026, 4, 5),
            hm(1, 45),
            utc("2026-04-04T14:45:00Z"),
            24.5,
        ),
        (
            Lord_Howe,
            date(2027, 4, 4),
            hm(1, 45),
            utc("2027-04-03T14:45:00Z"),
            24.5,
        ),
    ];
    for (zone, day, time, expected, next_len) in cases {
        assert_eq!(
            resolve(zone, day.and_time(time)),
            Some(expected),
            "{zone} {day}"
        );
        let r = rotation(
            RotationKind::Daily,
            &[A, B],
            utc("2026-01-01T00:00:00Z"),
            time,
        );
        let hs = handoffs_between(
            &r,
            zone,
            expected - TimeDelta::days(1),
            expected + TimeDelta::days(2),
        )
        .unwrap();
        assert_eq!(hs.len(), 3);
        assert_eq!(hs[1], expected);
        assert_eq!(hs[1] - hs[0], TimeDelta::hours(24), "{zone} {day}");
        assert_eq!(hs[2] - hs[1], hours(next_len), "{zone} {day}");
        // The second occurrence of the wall time is not a handoff.
        let second = expected + (hs[2] - hs[1] - TimeDelta::hours(24));
        assert_eq!(r.on_call_at(zone, second), r.on_call_at(zone, expected));
    }
}

#[test]
fn members_change_at_every_dst_handoff() {
    for (zone, day, _) in dst_days() {
        for handoff in [hm(0, 0), hm(1, 30), hm(2, 0), hm(2, 30), hm(3, 0), hm(9, 0)] {
            let r = rotation(
                RotationKind::Daily,
                &[A, B, C],
                utc("2025-06-01T00:00:00Z"),
                handoff,
            );
            let from = wall(zone, day.year(), day.month(), day.day(), 12, 0) - TimeDelta::days(2);
            let hs = handoffs_between(&r, zone, from, from + TimeDelta::days(4)).unwrap();
            assert_eq!(hs.len(), 4, "{zone} {day} {handoff}");
            for h in hs {
                let before = r.on_call_at(zone, h - TimeDelta::seconds(1)).unwrap();
                let after = r.on_call_at(zone, h).unwrap();
                let pos = |u| r.members.iter().position(|&m| m == u).unwrap();
                assert_eq!(
                    (pos(before) + 1) % 3,
                    pos(after),
                    "{zone} {day} {handoff} {h}"
                );
            }
        }
    }
}

#[test]
fn weekly_counts_weeks_from_the_first_handoff_day() {
    // Wednesday 2026-01-07; hand off on Mondays at 09:00 New York.
    let start = wall(New_York, 2026, 1, 7, 10, 0);
    let mut r = rotation(RotationKind::Weekly, &[A, B, C], start, hm(9, 0));
    r.handoff_days = vec![1, 3];
    let z = New_York;
    assert_eq!(r.on_call_at(z, start), Some(A));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 1, 12, 8, 59)), Some(A));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 1, 12, 9, 0)), Some(B));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 1, 19, 9, 0)), Some(C));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 1, 26, 9, 0)), Some(A));
    // Far ahead, without walking every week: 2030-01-07 is a Monday,
    // 208 weeks after 2026-01-12, so shift 209.
    assert_eq!(
        r.on_call_at(z, wall(z, 2030, 1, 7, 9, 0)),
        r.member_for_shift(209)
    );
    assert_eq!(r.shift_index_at(z, wall(z, 2030, 1, 7, 9, 0)), Some(209));
    // The week spanning spring forward is an hour short.
    let hs =
        handoffs_between(&r, z, wall(z, 2026, 3, 1, 0, 0), wall(z, 2026, 3, 10, 0, 0)).unwrap();
    assert_eq!(hs[1] - hs[0], TimeDelta::hours(167));
}

#[test]
fn weekly_without_handoff_days_uses_the_start_weekday_in_the_zone() {
    // 2026-01-04T20:00Z is Sunday in UTC but Monday 01:30 in Kolkata.
    let start = utc("2026-01-04T20:00:00Z");
    let r = rotation(RotationKind::Weekly, &[A, B], start, hm(9, 0));
    assert_eq!(r.handoff_weekday(Kolkata), chrono::Weekday::Mon);
    // Handoff time 09:00 is later the same Monday: shift 0 is short.
    assert_eq!(
        next_handoff(&r, Kolkata, start),
        Some(wall(Kolkata, 2026, 1, 5, 9, 0))
    );
    assert_eq!(
        next_handoff(&r, Kolkata, wall(Kolkata, 2026, 1, 5, 9, 0)),
        Some(wall(Kolkata, 2026, 1, 12, 9, 0))
    );
}

#[test]
fn biweekly_counts_the_first_handoff_then_every_second_week() {
    let start = wall(New_York, 2026, 1, 7, 10, 0);
    let mut r = rotation(RotationKind::Biweekly, &[A, B], start, hm(9, 0));
    r.handoff_days = vec![1];
    let z = New_York;
    let hs = handoffs_between(&r, z, start, wall(z, 2026, 3, 1, 0, 0)).unwrap();
    let expected: Vec<_> = [(1, 12), (1, 26), (2, 9), (2, 23)]
        .iter()
        .map(|&(m, d)| wall(z, 2026, m, d, 9, 0))
        .collect();
    assert_eq!(hs, expected);
    assert_eq!(r.on_call_at(z, wall(z, 2026, 1, 20, 0, 0)), Some(B));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 2, 1, 0, 0)), Some(A));
    assert_eq!(r.on_call_at(z, wall(z, 2026, 2, 10, 0, 0)), Some(B));
}

#[test]
fn custom_shifts_are_a_fixed_duration_across_dst() {
    let start = utc("2026-03-07T20:00:00Z");
    let mut r = rotation(RotationKind::Custom, &[A, B, C], start, hm(0, 0));
    r.shift_length = TimeDelta::hours(12);
    let hs = handoffs_between(&r, New_York, start, start + TimeDelta::days(3)).unwrap();
    assert_eq!(hs.len(), 5);
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(*h, start + TimeDelta::hours(12 * (i as i64 + 1)));
    }
    assert_eq!(
        r.on_call_at(New_York, start + TimeDelta::hours(25)),
        Some(C)
    );
    // Ten years later, by division.
    let later = start + TimeDelta::hours(12 * 7306) + TimeDelta::minutes(1);
    assert_eq!(r.shift_index_at(New_York, later), Some(7306));
}

#[test]
fn nobody_is_on_call_before_the_start() {
    let start = utc("2026-05-01T12:00:00Z");
    let r = rotation(RotationKind::Daily, &[A, B], start, hm(9, 0));
    let s = schedule(London, vec![r.clone()], vec![]);
    let before = start - TimeDelta::seconds(1);
    assert_eq!(r.on_call_at(London, before), None);
    assert_eq!(s.on_call_at(before).primary(), None);
    assert_eq!(s.on_call_at(before).paging_level(), None);
    assert_eq!(s.on_call_at(start).primary(), Some(A));
    // The start is not a handoff; the first is the next 09:00 London.
    let first = wall(London, 2026, 5, 2, 9, 0);
    assert_eq!(
        next_handoff(&r, London, before - TimeDelta::days(30)),
        Some(first)
    );
    let h = s.next_handoff(before).unwrap();
    assert_eq!(
        (h.at, h.outgoing_user_id, h.incoming_user_id),
        (first, A, B)
    );
    let shifts = rotation_shifts(&r, London, start - TimeDelta::days(2), first).unwrap();
    assert_eq!(shifts.len(), 1);
    assert_eq!(
        (shifts[0].start, shifts[0].end, shifts[0].user_id),
        (start, first, A)
    );
}

#[test]
fn restriction_across_midnight_belongs_to_its_start_day() {
    let r = Restriction {
        days: vec![1],
        start: hm(22, 0),
        end: hm(6, 0),
    };
    let rs = [r];
    let z = New_York;
    assert!(is_active(&rs, z, wall(z, 2026, 1, 5, 22, 0))); // Monday
    assert!(is_active(&rs, z, wall(z, 2026, 1, 6, 5, 59))); // Tuesday morning
    assert!(!is_active(&rs, z, wall(z, 2026, 1, 6, 6, 0)));
    assert!(!is_active(&rs, z, wall(z, 2026, 1, 5, 21, 59)));
    assert!(!is_active(&rs, z, wall(z, 2026, 1, 5, 3, 0))); // Monday morning: Sunday's window
    assert!(!is_active(&rs, z, wall(z, 2026, 1, 6, 23, 0)));
    assert!(!is_active(&rs, z, wall(z, 2026, 1, 4, 23, 0)));
}

#[test]
fn restricted_shifts_are_clipped_to_windows_across_dst_nights() {
    let z = New_York;
    let mut r = rotation(
        RotationKind::Daily,
        &[A, B],
        utc("2026-01-01T00:00:00Z"),
        hm(12, 0),
    );
    r.restrictions = vec![Restriction {
        days: vec![6],
        start: hm(22, 0),
        end: hm(6, 0),
    }];
    // Saturday nights into DST Sundays: 7 hours in spring, 9 in autumn.
    for (day, len) in [((3, 7), 7), ((10, 31), 9)] {
        let from = wall(z, 2026, day.0, day.1, 0, 0);
        let shifts = rotation_shifts(&r, z, from, from + TimeDelta::days(2)).unwrap();
        assert_eq!(shifts.len(), 1, "{shifts:?}");
        assert_eq!(shifts[0].start, wall(z, 2026, day.0, day.1, 22, 0));
        assert_eq!(shifts[0].end - shifts[0].start, TimeDelta::hours(len));
    }
    // A handoff at noon inside a window splits it between members.
    r.restrictions = vec![Restriction {
        days: vec![1, 2, 3, 4, 5],
        start: hm(9, 0),
        end: hm(17, 0),
    }];
    let from = wall(z, 2026, 1, 5, 0, 0);
    let shifts = rotation_shifts(&r, z, from, from + TimeDelta::days(7)).unwrap();
    assert_eq!(shifts.len(), 10);
    assert_eq!(shifts[0].end, wall(z, 2026, 1, 5, 12, 0));
    assert_ne!(shifts[0].user_id, shifts[1].user_id);
    assert_eq!(shifts[1].start, wall(z, 2026, 1, 5, 12, 0));
}

#[test]
fn restrictions_follow_the_wall_clock_in_repeated_and_skipped_hours() {
    let z = New_York;
    let mut r = rotation(
        RotationKind::Daily,
        &[A],
        utc("2026-01-01T00:00:00Z"),
        hm(12, 0),
    );
    r.restrictions = vec![Restriction {
        days: vec![0],
        start: hm(1, 30),
        end: hm(2, 30),
    }];
    let from = utc("2026-11-01T00:00:00Z");
    let shifts = rotation_shifts(&r, z, from, from + TimeDelta::days(1)).unwrap();
    let pieces: Vec<_> = shifts.iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(
        pieces,
        vec![
            (utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:00:00Z")),
            (utc("2026-11-01T06:30:00Z"), utc("2026-11-01T07:30:00Z")),
        ]
    );
    // 02:00–02:30 does not exist on the spring-forward Sunday.
    r.restrictions[0].start = hm(2, 0);
    let from = utc("2026-03-08T00:00:00Z");
    assert!(
        rotation_shifts(&r, z, from, from + TimeDelta::days(1))
            .unwrap()
            .is_empty()
    );
}

fn two_level_schedule(overrides: Vec<Override>) -> Schedule {
    let start = utc("2026-01-01T00:00:00Z");
    let primary = rotation(RotationKind::Daily, &[A, B], start, hm(9, 0));
    let mut secondary = rotation(RotationKind::Daily, &[C], start, hm(9, 0));
    secondary.id = Uuid::from_u128(0x2000);
    secondary.level = 2;
    schedule(London, vec![primary, secondary], overrides)
}

#[test]
fn overrides_beat_rotations() {
    // 2026-01-01 00:00–09:00 is shift 0 (A); from 09:00 it is B.
    let t = utc("2026-01-01T03:00:00Z");
    let (s0, e0) = (utc("2026-01-01T00:00:00Z"), utc("2026-01-01T06:00:00Z"));
    let created = utc("2025-12-01T00:00:00Z");

    let replace = over(
        1,
        OverrideKind::Replace {
            replaced_user_id: A,
        },
        X,
        s0,
        e0,
        created,
    );
    let s = two_level_schedule(vec![replace.clone()]);
    assert_eq!(s.on_call_at(t).primary(), Some(X));
    assert_eq!(s.on_call_at(e0).primary(), Some(A)); // half-open
    // Replacing someone not on call by rotation changes nothing.
    let s = two_level_schedule(vec![over(
        1,
        OverrideKind::Replace {
            replaced_user_id: B,
        },
        X,
        s0,
        e0,
        created,
    )]);
    assert_eq!(s.on_call_at(t).level(1), &[A]);

    let s = two_level_schedule(vec![over(2, OverrideKind::Add, Y, s0, e0, created)]);
    assert_eq!(s.on_call_at(t).level(1), &[A, Y]);

    let s = two_level_schedule(vec![over(3, OverrideKind::Remove, A, s0, e0, created)]);
    let on_call = s.on_call_at(t);
    assert_eq!(on_call.primary(), None);
    assert_eq!(on_call.secondary(), Some(C));
    let paging = on_call.paging_level().unwrap();
    assert_eq!(
        (paging.level, paging.users.clone(), paging.fallback),
        (2, vec![C], true)
    );
    let normal = s.on_call_at(e0).paging_level().unwrap();
    assert_eq!((normal.level, normal.fallback), (1, false));
}

#[test]
fn later_overrides_win() {
    let t = utc("2026-01-01T03:00:00Z");
    let (s0, e0) = (utc("2026-01-01T00:00:00Z"), utc("2026-01-01T06:00:00Z"));
    let early = utc("2025-12-01T00:00:00Z");
    let late = utc("2025-12-02T00:00:00Z");
    let rep = |id, user, created| {
        over(
            id,
            OverrideKind::Replace {
                replaced_user_id: A,
            },
            user,
            s0,
            e0,
            created,
        )
    };

    // Listed out of order; creation order decides.
    let s = two_level_schedule(vec![rep(1, Y, late), rep(2, X, early)]);
    assert_eq!(s.on_call_at(t).level(1), &[Y]);
    // Same creation time: the larger id is later.
    let s = two_level_schedule(vec![rep(9, Y, early), rep(2, X, early)]);
    assert_eq!(s.on_call_at(t).level(1), &[Y]);
    // Remove A, then a later replacement of A: the replacement stands.
    let s = two_level_schedule(vec![
        rep(1, X, late),
        over(2, OverrideKind::Remove, A, s0, e0, early),
    ]);
    assert_eq!(s.on_call_at(t).level(1), &[X]);
    // Replace A by X, then later remove X: nobody.
    let s = two_level_schedule(vec![
        rep(1, X, early),
        over(2, OverrideKind::Remove, X, s0, e0, late),
    ]);
    assert_eq!(s.on_call_at(t).level(1), &[] as &[Uuid]);
    // Add then later remove the same user.
    let s = two_level_schedule(vec![
        over(1, OverrideKind::Add, Y, s0, e0, early),
        over(2, OverrideKind::Remove, Y, s0, e0, late),
    ]);
    assert_eq!(s.on_call_at(t).level(1), &[A]);
}

#[test]
fn several_rotations_at_one_level_all_put_their_member_on_call() {
    let start = utc("2026-01-01T00:00:00Z");
    let first = rotation(RotationKind::Daily, &[A, B], start, hm(9, 0));
    let mut second = rotation(RotationKind::Daily, &[C, A], start, hm(9, 0));
    second.id = Uuid::from_u128(0x3000);
    let s = schedule(London, vec![first, second], vec![]);
    assert_eq!(s.on_call_at(utc("2026-01-01T01:00:00Z")).level(1), &[A, C]);
    // Both rotations put A on call: listed once.
    assert_eq!(s.on_call_at(utc("2026-01-01T10:00:00Z")).level(1), &[B, A]);
    let mut both_a = s.clone();
    both_a.rotations[1].members = vec![A];
    assert_eq!(
        both_a.on_call_at(utc("2026-01-01T01:00:00Z")).level(1),
        &[A]
    );
}

#[test]
fn override_shifts_are_listed_and_clipped() {
    let (s0, e0) = (utc("2026-01-01T06:00:00Z"), utc("2026-01-02T12:00:00Z"));
    let created = utc("2025-12-01T00:00:00Z");
    let s = two_level_schedule(vec![
        over(
            1,
            OverrideKind::Replace {
                replaced_user_id: B,
            },
            X,
            s0,
            e0,
            created,
        ),
        over(2, OverrideKind::Add, Y, s0, e0, created),
        over(3, OverrideKind::Remove, A, s0, e0, created),
    ]);
    let from = utc("2026-01-01T00:00:00Z");
    let shifts = s.shifts(from, utc("2026-01-02T00:00:00Z")).unwrap();
    let overrides: Vec<_> = shifts
        .iter()
        .filter(|s| s.source == ShiftSource::Override)
        .collect();
    assert_eq!(overrides.len(), 2);
    let x = overrides.iter().find(|s| s.user_id == X).unwrap();
    // B is on call from 09:00 (London = UTC in January).
    assert_eq!(
        (x.start, x.end),
        (utc("2026-01-01T09:00:00Z"), utc("2026-01-02T00:00:00Z"))
    );
    assert_eq!(x.override_id, Some(Uuid::from_u128(1)));
    let y = overrides.iter().find(|s| s.user_id == Y).unwrap();
    assert_eq!((y.start, y.end), (s0, utc("2026-01-02T00:00:00Z")));
    assert!(
        shifts
            .windows(2)
            .all(|w| (w[0].start, w[0].level) <= (w[1].start, w[1].level))
    );
}

#[test]
fn coverage_gaps_sweep_restrictions_and_overrides() {
    let z = New_York;
    let mut r = rotation(
        RotationKind::Daily,
        &[A, B],
        utc("2026-01-01T00:00:00Z"),
        hm(12, 0),
    );
    r.restrictions = vec![Restriction {
        days: vec![1, 2, 3, 4, 5],
        start: hm(9, 0),
        end: hm(17, 0),
    }];
    let from = wall(z, 2026, 1, 5, 0, 0); // Monday
    let to = from + TimeDelta::days(7);
    let s = schedule(z, vec![r.clone()], vec![]);
    let gaps = s.coverage_gaps(from, to).unwrap();
    assert_eq!(gaps.len(), 6);
    assert_eq!(
        gaps[0],
        Gap {
            start: from,
            end: wall(z, 2026, 1, 5, 9, 0)
        }
    );
    assert_eq!(
        gaps[5],
        Gap {
            start: wall(z, 2026, 1, 9, 17, 0),
            end: to
        }
    );

    // An add override covers Monday evening; a remove opens a hole on Tuesday.
    let created = utc("2025-12-01T00:00:00Z");
    let tuesday_member = r.on_call_at(z, wall(z, 2026, 1, 6, 10, 0)).unwrap();
    let s = schedule(
        z,
        vec![r],
        vec![
            over(
                1,
                OverrideKind::Add,
                X,
                wall(z, 2026, 1, 5, 17, 0),
                wall(z, 2026, 1, 5, 20, 0),
                created,
            ),
            over(
                2,
                OverrideKind::Remove,
                tuesday_member,
                wall(z, 2026, 1, 6, 10, 0),
                wall(z, 2026, 1, 6, 11, 0),
                created,
            ),
        ],
    );
    let gaps = s.coverage_gaps(from, to).unwrap();
    assert_eq!(gaps.len(), 7);
    assert_eq!(
        gaps[1],
        Gap {
            start: wall(z, 2026, 1, 5, 20, 0),
            end: wall(z, 2026, 1, 6, 9, 0)
        }
    );
    assert_eq!(
        gaps[2],
        Gap {
            start: wall(z, 2026, 1, 6, 10, 0),
            end: wall(z, 2026, 1, 6, 11, 0)
        }
    );
    // Level 2 has no rotation: all one gap.
    assert_eq!(
        s.coverage_gaps_at_level(2, from, to).unwrap(),
        vec![Gap {
            start: from,
            end: to
        }]
    );
}

#[test]
fn schedule_next_handoff_picks_the_earliest_rotation() {
    let start = utc("2026-01-01T00:00:00Z");
    let daily = rotation(RotationKind::Daily, &[A, B], start, hm(9, 0));
    let mut custom = rotation(RotationKind::Custom, &[C, X, Y], start, hm(0, 0));
    custom.id = Uuid::from_u128(0x4000);
    custom.shift_length = TimeDelta::hours(8);
    custom.level = 2;
    let s = schedule(London, vec![daily, custom], vec![]);
    let h = s.next_handoff(utc("2026-01-01T10:00:00Z")).unwrap();
    assert_eq!(h.rotation_id, Uuid::from_u128(0x4000));
    assert_eq!(
        (h.at, h.level, h.outgoing_user_id, h.incoming_user_id),
        (utc("2026-01-01T16:00:00Z"), 2, X, Y)
    );
    let h = s.next_handoff(utc("2026-01-01T16:00:00Z")).unwrap();
    assert_eq!(
        (h.at, h.outgoing_user_id, h.incoming_user_id),
        (utc("2026-01-02T00:00:00Z"), Y, C)
    );
    let h = s.next_handoff(utc("2026-01-02T08:00:00Z")).unwrap();
    assert_eq!(
        (h.at, h.outgoing_user_id, h.incoming_user_id),
        (utc("2026-01-02T09:00:00Z"), B, A)
    );
}

#[test]
fn handoffs_between_is_half_open() {
    let r = rotation(
        RotationKind::Daily,
        &[A, B],
        utc("2026-01-01T00:00:00Z"),
        hm(9, 0),
    );
    let hs = handoffs_between(
        &r,
        London,
        utc("2026-01-02T09:00:00Z"),
        utc("2026-01-04T09:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        hs,
        vec![utc("2026-01-02T09:00:00Z"), utc("2026-01-03T09:00:00Z")]
    );
}

#[test]
fn range_queries_are_capped() {
    let start = utc("2026-01-01T00:00:00Z");
    let mut r = rotation(RotationKind::Custom, &[A, B], start, hm(0, 0));
    r.shift_length = TimeDelta::minutes(1);
    let s = schedule(London, vec![r.clone()], vec![]);
    assert!(matches!(
        s.shifts(start, start + TimeDelta::days(401)),
        Err(RangeError::TooLong { .. })
    ));
    assert!(matches!(
        s.shifts(start, start - TimeDelta::days(1)),
        Err(RangeError::Inverted { .. })
    ));
    assert!(matches!(
        s.shifts(start, start + TimeDelta::days(100)),
        Err(RangeError::TooManyShifts { .. })
    ));
    assert!(matches!(
        handoffs_between(&r, London, start, start + TimeDelta::days(100)),
        Err(RangeError::TooManyShifts { .. })
    ));
    assert!(
        s.coverage_gaps(start, start + TimeDelta::days(401))
            .is_err()
    );
    assert_eq!(s.shifts(start, start).unwrap(), vec![]);
    // On-call at an instant is not capped.
    assert_eq!(
        s.on_call_at(start + TimeDelta::minutes(3)).primary(),
        Some(B)
    );
}

#[test]
fn degenerate_rotations_do_not_panic() {
    let start = utc("2026-01-01T00:00:00Z");
    let mut r = rotation(RotationKind::Custom, &[A, B], start, hm(0, 0));
    assert_eq!(next_handoff(&r, London, start), None); // zero shift length
    assert_eq!(r.on_call_at(London, start + TimeDelta::days(9)), Some(A));
    r.members.clear();
    assert_eq!(r.on_call_at(London, start), None);
    assert!(
        rotation_shifts(&r, London, start, start + TimeDelta::days(1))
            .unwrap()
            .is_empty()
    );
}

fn rotation_input() -> RotationInput {
    RotationInput {
        id: Uuid::from_u128(1),
        name: "Primary".into(),
        kind: "weekly".into(),
        members: vec![A, B],
        start: utc("2026-01-01T00:00:00Z"),
        shift_length: None,
        handoff_time: "09:00".into(),
        handoff_days: vec![1],
        restrictions: vec![RestrictionInput {
            days: vec![1, 2],
            start: "22:00".into(),
            end: "06:00".into(),
        }],
        level: 1,
    }
}

#[test]
fn validation_builds_typed_rotations() {
    let r = validate_rotation(&rotation_input(), "").unwrap();
    assert_eq!(r.kind, RotationKind::Weekly);
    assert_eq!(r.handoff_time, hm(9, 0));
    assert!(r.restrictions[0].crosses_midnight());
}

#[test]
fn validation_reports_every_problem_with_its_field() {
    let mut input = rotation_input();
    input.kind = "custom".into();
    input.members.clear();
    input.handoff_time = "25:00".into();
    input.handoff_days = vec![1, 9];
    input.level = 0;
    input.restrictions[0].end = "6pm".into();
    let problems: Vec<String> = validate_rotation(&input, "rotations[0]")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        vec![
            "rotations[0].members: give at least one member",
            "rotations[0].shift_config.shift_length: must be positive for custom rotations",
            "rotations[0].shift_config.handoff_time: \"25:00\" is not HH:MM",
            "rotations[0].shift_config.handoff_days[1]: 9 is not a day 0..6",
            "rotations[0].restrictions[0].end_time: \"6pm\" is not HH:MM",
            "rotations[0].level: must be at least 1",
        ]
    );
}

#[test]
fn validation_of_overrides_and_schedules() {
    let o = OverrideInput {
        id: Uuid::from_u128(5),
        kind: "replace".into(),
        user_id: X,
        replaced_user_id: None,
        start: utc("2026-01-02T00:00:00Z"),
        end: utc("2026-01-01T00:00:00Z"),
        level: 1,
        reason: "vacation".into(),
        author: "ops".into(),
        created_at: utc("2025-12-01T00:00:00Z"),
    };
    let problems: Vec<String> = validate_schedule(
        "Mars/Olympus",
        &[rotation_input()],
        std::slice::from_ref(&o),
    )
    .unwrap_err()
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        problems,
        vec![
            "timezone: \"Mars/Olympus\" is not a known IANA time zone",
            "overrides[0].replaced_user_id: give the user being replaced",
            "overrides[0].end_time: must be after start_time",
        ]
    );
    let fixed = OverrideInput {
        replaced_user_id: Some(A),
        end: utc("2026-01-03T00:00:00Z"),
        ..o
    };
    let s = validate_schedule("Europe/London", &[rotation_input()], &[fixed]).unwrap();
    assert_eq!(s.time_zone, London);
    assert_eq!(
        s.overrides[0].kind,
        OverrideKind::Replace {
            replaced_user_id: A
        }
    );
}

#[test]
fn handoff_steps_come_in_order_with_reminders_before_each_handoff() {
    let start = utc("2026-03-01T00:00:00Z");
    let mut custom = rotation(RotationKind::Custom, &[A, B], start, hm(0, 0));
    custom.shift_length = TimeDelta::hours(8);
    let schedule = Schedule {
        time_zone: New_York,
        rotations: vec![custom],
        overrides: Vec::new(),
    };
    let reminders = Reminders {
        outgoing: Some(TimeDelta::minutes(30)),
        incoming: Some(TimeDelta::minutes(10)),
    };
    let mut after = start;
    let mut steps = Vec::new();
    for _ in 0..4 {
        let step = schedule.next_handoff_step(after, reminders).unwrap();
        after = step.at;
        steps.push((step.at, step.step, step.handoff.outgoing_user_id));
    }
    assert_eq!(
        steps,
        vec![
            (utc("2026-03-01T07:30:00Z"), HandoffStep::RemindOutgoing, A),
            (utc("2026-03-01T07:50:00Z"), HandoffStep::RemindIncoming, A),
            (utc("2026-03-01T08:00:00Z"), HandoffStep::HandOff, A),
            (utc("2026-03-01T15:30:00Z"), HandoffStep::RemindOutgoing, B),
        ]
    );
}

#[test]
fn a_reminder_longer_than_a_shift_still_comes_before_its_handoff() {
    let start = utc("2026-03-01T00:00:00Z");
    let mut custom = rotation(RotationKind::Custom, &[A, B, C], start, hm(0, 0));
    custom.shift_length = TimeDelta::hours(1);
    let schedule = Schedule {
        time_zone: Kolkata,
        rotations: vec![custom],
        overrides: Vec::new(),
    };
    let reminders = Reminders {
        outgoing: None,
        incoming: Some(TimeDelta::minutes(90)),
    };
    // At 00:45 the 02:00 handoff's reminder (00:30) has passed, but the 03:00
    // handoff's (01:30) comes before the 01:00 handoff is done with.
    let first = schedule
        .next_handoff_step(utc("2026-03-01T00:45:00Z"), reminders)
        .unwrap();
    assert_eq!(first.step, HandoffStep::HandOff);
    assert_eq!(first.at, utc("2026-03-01T01:00:00Z"));
    let second = schedule.next_handoff_step(first.at, reminders).unwrap();
    assert_eq!(second.step, HandoffStep::RemindIncoming);
    assert_eq!(second.at, utc("2026-03-01T01:30:00Z"));
    assert_eq!(second.handoff.at, utc("2026-03-01T03:00:00Z"));
}

#[test]
fn a_one_member_rotation_has_no_handoff_steps() {
    let start = utc("2026-03-01T00:00:00Z");
    let schedule = Schedule {
        time_zone: London,
        rotations: vec![rotation(RotationKind::Daily, &[A], start, hm(9, 0))],
        overrides: Vec::new(),
    };
    assert_eq!(
        schedule.next_handoff_step(start, Reminders::default()),
        None
    );
}
