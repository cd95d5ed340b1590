//! Unit tests of the verifier: the near-misses it must catch, the paraphrases it must keep,
//! and the rewordings it gives up.

use super::*;

#[test]
fn negation_numbers_and_swapped_names_are_near_misses() {
    assert!(!same_question(
        "Does caffeine cause insomnia?",
        "Does caffeine not cause insomnia?"
    ));
    assert!(!same_question(
        "Can I freeze cooked rice?",
        "Why can't I freeze cooked rice?"
    ));
    assert!(!same_question("Tax rules in 2019", "Tax rules in 2021"));
    assert!(!same_question("What is 3 times 4?", "What is 4 times 5?"));
    assert!(!same_question("Events in March", "Events in April"));
    assert!(!same_question(
        "Did Germany beat Brazil in the final?",
        "Did Brazil beat Germany in the final?"
    ));
    assert!(!same_question(
        "How do I enable the cache?",
        "How do I disable the cache?"
    ));
    // Regressions from the labelled set (tests/pairs): names that are not the only ones
    // mentioned, names with inner capitals, possessives, and tokens mixing letters and digits.
    assert!(!same_question(
        "Why did Napoleon invade Russia?",
        "Why did Russia invade Napoleon's France?"
    ));
    assert!(!same_question(
        "Did Microsoft buy GitHub or did GitHub buy Microsoft?",
        "Did GitHub buy Microsoft?"
    ));
    assert!(!same_question(
        "How do I port a game from Android to iOS?",
        "How do I port a game from iOS to Android?"
    ));
    assert!(!same_question(
        "Which chess move is best after e4 e5?",
        "Which chess move is best after e4 c5?"
    ));
}

#[test]
fn a_changed_meaning_word_is_a_near_miss() {
    // The examples of issue 23, each served from the cache before this check.
    for (a, b) in [
        (
            "Does low-dose aspirin reduce the risk of a second heart attack?",
            "Does low-dose aspirin increase the risk of a second heart attack?",
        ),
        (
            "What is the half-life of caffeine in adults?",
            "What is the half-life of caffeine in children?",
        ),
        (
            "Does caffeine block adenosine receptors?",
            "Does caffeine activate adenosine receptors?",
        ),
        (
            "How long is a day on Mars?",
            "How long is a day on Jupiter?",
        ),
        ("How long is a day on Mars?", "How long is a year on Mars?"),
        (
            "Do women need more iron than men?",
            "Do women need less iron than men?",
        ),
        (
            "Should I take ibuprofen before eating?",
            "Should I take ibuprofen after eating?",
        ),
        ("How do I start the server?", "How do I stop the server?"),
        (
            "Is 10 mg of melatonin too much?",
            "Is 10 g of melatonin too much?",
        ),
        ("Is Rust faster than Go?", "Is Rust fast?"),
        (
            "How do I copy files from the server to my laptop?",
            "How do I copy files from my laptop to the server?",
        ),
        (
            "Does not sleeping cause headaches?",
            "Does sleeping not cause headaches?",
        ),
        ("Do cats chase dogs?", "Do dogs chase cats?"),
        (
            "Does insulin resistance cause obesity?",
            "Does obesity cause insulin resistance?",
        ),
    ] {
        assert!(!same_question(a, b), "{a} | {b}");
    }
}

#[test]
fn inflections_synonyms_spellings_and_framing_agree() {
    for (a, b) in [
        ("How does a vaccine work?", "How do vaccines work?"),
        (
            "What causes kidney stones?",
            "What are the causes of kidney stones?",
        ),
        (
            "How do I begin a new project?",
            "How do I start a new project?",
        ),
        (
            "How do physicians diagnose gout?",
            "How do doctors diagnose gout?",
        ),
        (
            "What is the colour of copper?",
            "What is the color of copper?",
        ),
        ("How do I optimise a query?", "How do I optimize a query?"),
        (
            "What causes migraines?",
            "Could you please tell me what causes migraines?",
        ),
        (
            "How do I reset my password?",
            "What are the steps to reset my password?",
        ),
        (
            "What is the function of the kidneys?",
            "What do the kidneys do?",
        ),
        (
            "What is the main cause of acid rain?",
            "What mainly causes acid rain?",
        ),
    ] {
        assert!(same_question(a, b), "{a} | {b}");
    }
}

#[test]
fn rewordings_beyond_words_and_synonyms_are_given_up() {
    // The price of never serving the opposite answer: a paraphrase whose words are not
    // lemmas, derivations or WordNet synonyms of each other is a miss (a second spent,
    // not a wrong answer).
    assert!(!same_question(
        "What happens to a Rust value when its owner goes out of scope?",
        "When its owner leaves scope, what happens to a value in Rust?"
    ));
    // A word moved across another looks like a swap of roles ("value in Rust" / "Rust value").
    assert!(!same_question(
        "What happens to a Rust value when its owner goes out of scope?",
        "When its owner goes out of scope, what happens to a value in Rust?"
    ));
    assert!(!same_question(
        "How can I reduce my electricity bill?",
        "How do I lower my electricity bill?"
    ));
}

#[test]
fn paraphrases_agree() {
    assert!(same_question(
        "How do I reset my password?",
        "how can i reset my password"
    ));
    assert!(same_question(
        "What happens to a Rust value when its owner goes out of scope?",
        "What happens to a Rust value when the owner of it goes out of scope?"
    ));
    assert!(same_question(
        "Is Python slower than C?",
        "Is Python slower than C? I'm curious."
    ));
    // Two negations cancel out: the parity is compared, not the words.
    assert!(same_question(
        "Is it not true that backups never fail?",
        "Is it true that backups fail?"
    ));
    assert!(same_question(
        "What is the port 8080 used for?",
        "Port 8080 is used for what?"
    ));
}

#[test]
fn the_end_to_end_cache_test_paraphrases_are_the_same_question() {
    // tests/e2e/cache.rs asks these on live gateways; keep the two in step.
    assert!(same_question(
        "How often should a sourdough starter be fed at room temperature?",
        "How often do I need to feed a sourdough starter at room temperature?"
    ));
    assert!(same_question(
        "Which chess opening begins with the moves e4 c5?",
        "Which opening in chess starts with the moves e4 c5?"
    ));
}
