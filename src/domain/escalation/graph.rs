//! Handover cycles: a policy graph where A hands to B and B back to A would page forever,
//! so it is refused when saved.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// A cycle through the handover graph (`edges`: policy → the policies it hands to), as
/// the path that closes it (`[A, B, A]`), or `None`. Deterministic: policies are
/// visited in id order.
pub fn find_cycle(edges: &BTreeMap<Uuid, Vec<Uuid>>) -> Option<Vec<Uuid>> {
    let mut done = BTreeSet::new();
    for start in edges.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(*start, edges, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit(
    node: Uuid,
    edges: &BTreeMap<Uuid, Vec<Uuid>>,
    path: &mut Vec<Uuid>,
    done: &mut BTreeSet<Uuid>,
) -> Option<Vec<Uuid>> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node);
        return Some(cycle);
    }
    if done.contains(&node) {
        return None;
    }
    path.push(node);
    for next in edges.get(&node).into_iter().flatten() {
        if let Some(cycle) = visit(*next, edges, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_two_policy_loop_is_found_and_named() {
        let edges = BTreeMap::from([(id(1), vec![id(2)]), (id(2), vec![id(1)])]);
        assert_eq!(find_cycle(&edges), Some(vec![id(1), id(2), id(1)]));
    }

    #[test]
    fn chains_and_diamonds_are_not_cycles() {
        let edges = BTreeMap::from([
            (id(1), vec![id(2), id(3)]),
            (id(2), vec![id(4)]),
            (id(3), vec![id(4)]),
            (id(4), vec![]),
        ]);
        assert_eq!(find_cycle(&edges), None);
    }

    #[test]
    fn a_self_handover_and_a_long_loop_are_cycles() {
        let selfish = BTreeMap::from([(id(7), vec![id(7)])]);
        assert_eq!(find_cycle(&selfish), Some(vec![id(7), id(7)]));
        let long = BTreeMap::from([
            (id(1), vec![id(2)]),
            (id(2), vec![id(3)]),
            (id(3), vec![id(1)]),
        ]);
        assert_eq!(find_cycle(&long), Some(vec![id(1), id(2), id(3), id(1)]));
    }
}
