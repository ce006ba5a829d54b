"""Reading model replies: JSON scanning, pairs, questions, ratings."""
