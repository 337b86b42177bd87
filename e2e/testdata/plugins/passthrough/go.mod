module example.test/passthrough

go 1.22
