//! The system prompt and the provider-facing message list.

use super::grounding::{render, Passage};
use super::ChatContext;

pub const SYSTEM_PROMPT: &str = "You are RichesReach's finance-education assistant. \
You explain personal-finance and investing concepts clearly and accurately: budgeting, saving, \
debt, credit, retirement accounts, taxes on investments, stocks, bonds, funds, risk and \
diversification. You educate; you do not give personal investment advice. You never tell a \
person to buy or sell a specific security or promise returns. When someone asks what they \
personally should do, say plainly that you cannot give personal investment advice, explain \
the concepts and trade-offs that matter for their decision, and suggest a licensed, fee-only \
financial adviser for advice tailored to them. Keep answers concise and concrete, and say so \
when you are unsure.";

/// Introduces the passages; the heading line is what tests and operators
/// look for in a request.
pub const REFERENCE_HEADING: &str = "Reference material from RichesReach's guides:";

const GROUNDING_RULES: &str = "Below are numbered passages from RichesReach's guides that \
match this question. Rely on them: base your answer on what they say, and cite the passage \
behind each statement by its number in square brackets, like [1] or [2], right after the \
statement. Cite only these numbers. If the passages do not cover the question, or only part \
of it, say so plainly, and be careful with anything you add from general knowledge.";

const NO_REFERENCE: &str = "None of RichesReach's guides matches this message. If it asks \
about finance, say that your answer does not come from RichesReach's guides.";

/// The system message: the prompt, the user's name so replies can address
/// them, and the reference passages (or a note that none matched).
pub fn system_message(ctx: &ChatContext, reference: &[Passage]) -> String {
    let mut message = SYSTEM_PROMPT.to_owned();
    let name = ctx.user_name.trim();
    if !name.is_empty() {
        message.push_str(&format!("\n\nYou are talking with {name}."));
    }
    if reference.is_empty() {
        message.push_str(&format!("\n\n{NO_REFERENCE}"));
    } else {
        message.push_str(&format!(
            "\n\n{GROUNDING_RULES}\n\n{REFERENCE_HEADING}\n\n{}",
            render(reference)
        ));
    }
    message
}

/// Asked after the partial text of a reply whose writer died, so the model
/// carries on from where the stored text ends.
pub const CONTINUE_INSTRUCTION: &str = "Your previous answer was cut off. Continue it exactly \
where it stopped, without repeating any of it and without any preamble.";
