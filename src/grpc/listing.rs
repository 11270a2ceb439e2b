//! Listings answered from memory (definitions filtered after reading them all).

/// One page of an in-memory listing: the items, the next page token, the total count.
pub fn page_of<T>(matching: Vec<T>, limit: i64, offset: i64) -> (Vec<T>, String, i32) {
    let total = matching.len() as i64;
    let items: Vec<T> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    let token = super::next_token(offset, items.len(), limit, total);
    (items, token, i32::try_from(total).unwrap_or(i32::MAX))
}
