//! Branches in the window, over the real engine, the real store and the scripted SSE server:
//! regenerate adds a sibling and ‹ › switches between the answers; an earlier message can be
//! edited and resent; a message can be deleted; a new base URL in Settings is where the next
//! request goes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::gui::{GuiRig, label_shown, start_gui};
use common::*;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use rustbot::ui::message_bar::{CONFIRM_DELETE, DELETE, EDIT, NEXT_BRANCH, PREVIOUS_BRANCH};

fn start(server: &ScriptedServer) -> GuiRig {
    start_gui(server, egui::vec2(1000.0, 800.0))
}

/// Waits until the selected conversation is idle and every shown message has its store id.
fn settle(rig: &mut GuiRig, what: &str) {
    rig.wait_for(what, |h| {
        h.state().view_model().selected().is_some_and(|c| {
            !c.run.is_active()
                && !c.messages.is_empty()
                && c.messages.iter().all(|m| m.store_id.is_some())
        })
    });
}

fn shown_texts(rig: &GuiRig) -> Vec<String> {
    let vm = rig.harness.state().view_model();
    vm.selected()
        .map(|c| c.messages.iter().map(|m| m.text.clone()).collect())
        .unwrap_or_default()
}

fn stored_path(rig: &GuiRig) -> Vec<String> {
    let vm = rig.harness.state().view_model();
    let id = vm.selected_id().unwrap().0.clone();
    rig.store
        .call_blocking(move |s| s.active_path(&id))
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect()
}

fn sent_user_texts(request: &Recorded) -> Vec<String> {
    request.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn regenerate_then_switch_between_answers_edit_an_earlier_message_and_delete_one() {
    let server = ScriptedServer::start(vec![
        openai_answer(&["First", " answer"], false),
        openai_answer(&["Second", " answer"], false),
        openai_answer(&["Follow-up", " answer"], false),
        openai_answer(&["Edited", " answer"], false),
    ]);
    let mut rig = start(&server);

    rig.send("Hi");
    settle(&mut rig, "the first answer, stored");
    assert!(!label_shown(&rig.harness, "1/2"), "no branches yet");

    rig.harness.get_by_label("Regenerate").click();
    rig.harness.run_steps(2);
    rig.wait_for("the regenerated answer with a switcher", |h| {
        label_shown(h, "Second answer") && label_shown(h, "2/2")
    });

    rig.harness.get_by_label(PREVIOUS_BRANCH).click();
    rig.wait_for("the first answer again", |h| {
        label_shown(h, "First answer") && label_shown(h, "1/2")
    });
    assert_eq!(shown_texts(&rig), vec!["Hi", "First answer"]);
    assert_eq!(stored_path(&rig), vec!["Hi", "First answer"]);
    rig.harness.get_by_label(NEXT_BRANCH).click();
    rig.wait_for("the second answer again", |h| {
        label_shown(h, "Second answer") && label_shown(h, "2/2")
    });
    assert_eq!(
        server.requests().len(),
        2,
        "switching asks the model nothing"
    );

    // A second exchange, then edit the *first* message: the follow-up leaves this branch.
    rig.send("And then?");
    settle(&mut rig, "the follow-up answer");
    assert_eq!(shown_texts(&rig).len(), 4);
    rig.harness.get_all_by_label(EDIT).next().unwrap().click();
    rig.harness.run_steps(2);
    assert_eq!(
        rig.harness.get_by_label("Message").value().as_deref(),
        Some("Hi"),
        "the message to edit is in the input box"
    );
    rig.harness.get_by_label("Message").type_text(" there");
    rig.harness.key_press(Key::Enter);
    rig.harness.run_steps(2);
    settle(&mut rig, "the answer to the edited message");
    assert_eq!(shown_texts(&rig), vec!["Hi there", "Edited answer"]);
    assert_eq!(
        sent_user_texts(&server.requests()[3]),
        vec!["Hi there"],
        "the model sees the edited branch only"
    );
    assert!(label_shown(&rig.harness, "2/2"), "the edit is a sibling");

    // Delete the answer: asks first, then the store and the view lose it.
    let deletes = rig.harness.get_all_by_label(DELETE).count();
    assert_eq!(deletes, 2, "one Delete per message");
    rig.harness.get_all_by_label(DELETE).nth(1).unwrap().click();
    rig.harness.run_steps(2);
    rig.harness.get_by_label(CONFIRM_DELETE).click();
    rig.wait_for("the answer to leave", |h| !label_shown(h, "Edited answer"));
    assert_eq!(shown_texts(&rig), vec!["Hi there"]);
    assert_eq!(stored_path(&rig), vec!["Hi there"]);
}

#[test]
fn a_new_base_url_in_settings_is_where_the_next_request_goes() {
    let first = ScriptedServer::start(vec![openai_answer(&["From", " the first"], false)]);
    let second = ScriptedServer::start(vec![openai_answer(&["From", " the second"], false)]);
    let mut rig = start(&first);
    rig.send("One");
    settle(&mut rig, "the first server's answer");

    rig.harness.get_by_label("Settings").click();
    rig.harness.run_steps(2);
    rig.harness.get_by_label("Base URL").focus();
    rig.harness.run_steps(1);
    rig.harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    rig.harness
        .get_by_label("Base URL")
        .type_text(&second.base_url());
    rig.harness.key_press(Key::Enter);
    rig.harness.run_steps(2);
    assert_eq!(rig.harness.state().settings().base_url, second.base_url());
    rig.harness.get_by_label("Chat").click();
    rig.harness.run_steps(2);

    rig.send("Two");
    rig.wait_for("the second server's answer", |h| {
        label_shown(h, "From the second")
    });
    assert_eq!(
        first.requests().len(),
        1,
        "nothing more went to the old URL"
    );
    assert_eq!(second.requests().len(), 1);
    assert_eq!(
        sent_user_texts(&second.requests()[0]),
        vec!["One", "Two"],
        "the conversation goes on with the new provider"
    );
}

#[test]
fn temperature_and_max_tokens_from_settings_go_with_the_next_request() {
    let server = ScriptedServer::start(vec![
        openai_answer(&["First"], false),
        openai_answer(&["Second"], false),
    ]);
    let mut rig = start(&server);
    rig.send("One");
    settle(&mut rig, "the first answer");
    let first = server.requests()[0].json();
    assert!(first.get("max_tokens").is_none(), "{first}");

    rig.harness.get_by_label("Settings").click();
    rig.harness.run_steps(2);
    // The number boxes (the temperature slider has one beside it, under the same label).
    for (label, value) in [("Max tokens", "321"), ("Temperature", "0.25")] {
        rig.harness
            .get_by_role_and_label(Role::SpinButton, label)
            .focus();
        rig.harness.run_steps(1);
        rig.harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
        rig.harness
            .get_by_role_and_label(Role::SpinButton, label)
            .type_text(value);
        rig.harness.key_press(Key::Enter);
        rig.harness.run_steps(2);
    }
    assert_eq!(rig.harness.state().settings().max_tokens, 321);
    assert_eq!(rig.harness.state().settings().temperature, 0.25);
    rig.harness.get_by_label("Chat").click();
    rig.harness.run_steps(2);

    rig.send("Two");
    rig.wait_for("the second answer", |h| label_shown(h, "Second"));
    let second = server.requests()[1].json();
    assert_eq!(second["max_tokens"], 321, "{second}");
    assert!(
        (second["temperature"].as_f64().unwrap() - 0.25).abs() < 1e-6,
        "{second}"
    );
}

/// Issue 18 in the window: the header's context meter after an answer, "Compact now", and
/// the summary card that takes the older messages' place (the originals stay shown above it).
#[test]
fn compact_now_shows_the_meter_and_an_expandable_summary_card() {
    use rustbot::ui::chat::{COMPACT_NOW_LABEL, SUMMARY_CARD_TITLE};
    let server = ScriptedServer::start(vec![
        openai_answer(&["First", " answer"], false),
        openai_answer(&["Second", " answer"], false),
        openai_answer(&["The user greeted the assistant twice."], false),
    ]);
    let mut rig = start(&server);
    rig.send("Hi");
    settle(&mut rig, "the first answer");
    rig.send("Hi again");
    settle(&mut rig, "the second answer");
    // Window unknown to the model list: the default 4096; the last request's size is shown.
    rig.wait_for("the context meter", |h| label_shown(h, "/ 4096 ("));
    assert!(!label_shown(&rig.harness, SUMMARY_CARD_TITLE));

    rig.harness.get_by_label(COMPACT_NOW_LABEL).click();
    rig.harness.run_steps(2);
    rig.wait_for("the summary card", |h| label_shown(h, SUMMARY_CARD_TITLE));
    assert_eq!(server.requests().len(), 3, "one summary request");
    let vm = rig.harness.state().view_model();
    let conv = vm.selected().unwrap();
    assert_eq!(conv.compactions, 1);
    // The originals stay shown; the card sits before the newest turn.
    let texts: Vec<_> = conv.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Hi",
            "First answer",
            "The user greeted the assistant twice.",
            "Hi again",
            "Second answer"
        ]
    );
    assert!(!label_shown(
        &rig.harness,
        "The user greeted the assistant twice."
    ));
    rig.harness.get_by_label(SUMMARY_CARD_TITLE).click();
    rig.wait_for("the summary's text", |h| {
        label_shown(h, "The user greeted the assistant twice.")
    });
}
