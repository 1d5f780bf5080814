//! Suite names: the subsets that can be asked for one by one (`sugarcrepe/add_att`,
//! `valse/existence`, `sugarcrepe++/swap_obj`) and the other spellings people bring from the
//! reference code, in one table: the ARO code's dataset names (`dataset_zoo.get_dataset`:
//! `VG_Relation`, `VG_Attribution`, `COCO_Order`, `Flickr30k_Order`) and CLIP_benchmark's
//! (`clip_benchmark/datasets/builder.py`: `sugar_crepe/<task>`, the `sugar_crepe` collection,
//! `winoground`).

use super::sugarcrepe::SUGARCREPE_SUBSETS;
use super::sugarcrepe_pp::SUGARCREPE_PP_SUBSETS;
use super::valse::VALSE_PIECES;
use super::SUITE_NAMES;

/// Other spellings, matched without regard to case, and the name negclip knows them by.
const ALIASES: &[(&str, &str)] = &[
    // The ARO code (mertyg/vision-language-models-are-bows, dataset_zoo/__init__.py).
    ("VG_Relation", "vg-relation"),
    ("VG_Attribution", "vg-attribution"),
    ("COCO_Order", "coco-order"),
    ("Flickr30k_Order", "flickr30k-order"),
    // CLIP_benchmark (clip_benchmark/datasets/builder.py).
    ("sugar_crepe", "sugarcrepe"),
    ("sugar_crepe/add_att", "sugarcrepe/add_att"),
    ("sugar_crepe/add_obj", "sugarcrepe/add_obj"),
    ("sugar_crepe/replace_att", "sugarcrepe/replace_att"),
    ("sugar_crepe/replace_obj", "sugarcrepe/replace_obj"),
    ("sugar_crepe/replace_rel", "sugarcrepe/replace_rel"),
    ("sugar_crepe/swap_att", "sugarcrepe/swap_att"),
    ("sugar_crepe/swap_obj", "sugarcrepe/swap_obj"),
    // CLIP_benchmark spells it as negclip does; listed so that any case finds it.
    ("winoground", "winoground"),
    // SugarCrepe++ as its repository (Sri-Harsha/scpp) and its Hugging Face copy name it.
    ("scpp", "sugarcrepe++"),
    ("sugarcrepe_pp", "sugarcrepe++"),
];

/// Families whose members can be asked for one by one as `<family>/<member>`.
const FAMILIES: &[(&str, &[&str])] = &[
    ("sugarcrepe", &SUGARCREPE_SUBSETS),
    ("sugarcrepe++", &SUGARCREPE_PP_SUBSETS),
    ("valse", &VALSE_PIECES),
];

/// The name negclip knows `name` by: an alias's target, else `name` itself.
pub fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, target)| target)
}

/// `(family, member)` when `name` (canonical) is one member of a family, such as
/// `("valse", "existence")` for `valse/existence`.
pub fn member(name: &str) -> Option<(&'static str, &'static str)> {
    let (family, rest) = name.split_once('/')?;
    let (family, members) = FAMILIES.iter().find(|(f, _)| *f == family)?;
    let member = members.iter().find(|m| **m == rest)?;
    Some((family, member))
}

/// Whether [`super::load_suite`] accepts `name`, in any spelling.
pub fn is_known(name: &str) -> bool {
    let name = canonical(name);
    SUITE_NAMES.contains(&name) || member(name).is_some()
}

/// Every name [`super::load_suite`] accepts, for help texts and errors: the suites and
/// groups, then `<family>/<member>` patterns and the other spellings.
pub fn known_names() -> String {
    let families = FAMILIES
        .iter()
        .map(|(family, members)| format!("{family}/{{{}}}", members.join(",")))
        .collect::<Vec<_>>()
        .join(", ");
    let aliases = ALIASES
        .iter()
        .filter(|(alias, target)| alias != target)
        .map(|(alias, _)| *alias)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}; one subset: {families}; also: {aliases}",
        SUITE_NAMES.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_codes_spellings_name_negclips_suites() {
        assert_eq!(canonical("VG_Relation"), "vg-relation");
        assert_eq!(canonical("flickr30k_order"), "flickr30k-order");
        assert_eq!(canonical("sugar_crepe/add_att"), "sugarcrepe/add_att");
        assert_eq!(canonical("Winoground"), "winoground");
        assert_eq!(canonical("vg-relation"), "vg-relation");
        assert!(is_known("COCO_Order"));
        assert!(is_known("sugar_crepe/swap_obj"));
        assert!(is_known("valse/foil-it"));
        assert!(is_known("sugarcrepe++/replace_rel"));
        assert!(is_known("SugarCrepe_PP"));
        assert!(!is_known("sugarcrepe/add_rel"));
        assert!(!is_known("valse/"));
    }

    #[test]
    fn every_alias_names_a_known_suite() {
        for (alias, target) in ALIASES {
            assert!(is_known(target), "{alias} -> {target}");
        }
    }

    #[test]
    fn members_split_into_family_and_member() {
        assert_eq!(member("valse/existence"), Some(("valse", "existence")));
        assert_eq!(
            member("sugarcrepe/add_att"),
            Some(("sugarcrepe", "add_att"))
        );
        assert_eq!(member("aro/vg"), None);
        assert!(
            known_names().contains("sugar_crepe/add_att"),
            "{}",
            known_names()
        );
    }
}
