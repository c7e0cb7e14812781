"""Train the course's default two-layer network on Iris."""

from neural_networks import AttrDict, initialize_dataset, initialize_model

layer_args = [
    AttrDict(name="fully_connected", activation="relu", weight_init="xavier_uniform", n_out=10),
    AttrDict(name="fully_connected", activation="softmax", weight_init="xavier_uniform", n_out=None),
]
optimizer_args = AttrDict(name="SGD", lr=0.01, lr_scheduler="constant", momentum=0.9)

dataset = initialize_dataset("iris", batch_size=25)
model = initialize_model("feed_forward", "cross_entropy", layer_args, optimizer_args, seed=0)
model.train(dataset, epochs=100)
results = model.test(dataset)
print(f"Test accuracy: {1 - results['test_error']:.4f} (test error {results['test_error']:.4f})")
