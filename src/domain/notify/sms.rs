//! SMS length rules: a message in the GSM 03.38 alphabet fits 160 characters (the
//! extension table's characters count twice); anything else goes as UCS-2 and fits 70.

/// GSM 03.38 basic character set.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs an escape plus itself.
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// Septets `c` costs in GSM-7, or None outside the alphabet.
fn gsm_cost(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_cost(c).is_some())
}

/// The text as one SMS: unchanged if it fits, otherwise cut and ended with an ellipsis
/// ("..." in GSM-7, "…" in UCS-2). The bool says whether it was cut.
pub fn fit_one(text: &str) -> (String, bool) {
    if is_gsm7(text) {
        let total: usize = text.chars().filter_map(gsm_cost).sum();
        if total <= 160 {
            return (text.to_string(), false);
        }
        let mut used = 0;
        let mut out = String::new();
        for c in text.chars() {
            let cost = gsm_cost(c).unwrap_or(1);
            if used + cost > 157 {
                break;
            }
            used += cost;
            out.push(c);
        }
        out.push_str("...");
        (out, true)
    } else {
        // UCS-2 counts UTF-16 code units.
        let units: usize = text.chars().map(char::len_utf16).sum();
        if units <= 70 {
            return (text.to_string(), false);
        }
        let mut used = 0;
        let mut out = String::new();
        for c in text.chars() {
            if used + c.len_utf16() > 69 {
                break;
            }
            used += c.len_utf16();
            out.push(c);
        }
        out.push('…');
        (out, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_text_fits_160() {
        let short = "CRITICAL #42 BGP down IAD1";
        assert_eq!(fit_one(short), (short.to_string(), false));
        let long = "x".repeat(200);
        let (cut, was_cut) = fit_one(&long);
        assert!(was_cut);
        assert_eq!(cut.chars().count(), 160);
        assert!(cut.ends_with("..."));
    }

    #[test]
    fn extended_characters_count_twice() {
        let text = "{".repeat(80);
        assert!(!fit_one(&text).1);
        let text = "{".repeat(81);
        let (cut, was_cut) = fit_one(&text);
        assert!(was_cut);
        assert_eq!(cut, format!("{}...", "{".repeat(78)));
    }

    #[test]
    fn other_text_goes_as_ucs2_in_70() {
        let text = "Störung 🚨 ".repeat(10);
        assert!(!is_gsm7(&text));
        let (cut, was_cut) = fit_one(&text);
        assert!(was_cut);
        assert!(cut.chars().map(char::len_utf16).sum::<usize>() <= 70);
        assert!(cut.ends_with('…'));
    }
}
