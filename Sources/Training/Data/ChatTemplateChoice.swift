import Foundation
import Model

extension ChatTemplate {
    /// The template a model answers in, when the user does not say (`--template`): the
    /// `data.template` of the recipe its checkpoint was trained with; without a checkpoint,
    /// `chatml` when the model's own chat template (`ModelSource.chatTemplate`) opens turns with
    /// `<|im_start|>` (SmolLM2, Qwen, ...), else `janus`.
    public static func template(for model: ModelSource, checkpoint: LoadedCheckpoint?) throws -> Kind {
        if let checkpoint {
            return try Recipe(yaml: checkpoint.recipeYAML, source: "the recipe stored in \(checkpoint.url.path)").data.template
        }
        return try model.chatTemplate()?.contains("<|im_start|>") == true ? .chatml : .janus
    }
}
