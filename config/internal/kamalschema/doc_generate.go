package kamalschema

//go:generate go run ./gen -ref ../../../../shared/kamal-config -out table.go
