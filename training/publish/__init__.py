"""Publishing: `se1b push` uploads dataset, model and Space folders to the Hugging Face Hub after validating them."""
