// placeholder: tests go here
